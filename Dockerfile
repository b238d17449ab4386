# The product image: Ray, Python, torch and this project, baked in once, so that cluster nodes start
# it instead of pip-installing several GB of torch each time the autoscaler adds one.
#
#   make image IMAGE=ghcr.io/your-org/gan-augment-study:0.1.0     # build (tags the source's git sha in)
#   docker push ghcr.io/your-org/gan-augment-study:0.1.0          # then name it in cluster.yaml / RayJob
#
# CUDA: the base is Ray's CUDA image for Ray 2.60.0 and Python 3.11 (pyproject's Python, the
# constraints' Ray). torch's PyPI wheel (constraints.txt: 2.14.1+cu130) brings its own CUDA 13.0
# runtime, so the only thing the node must supply is an NVIDIA driver that runs CUDA 13.0
# (Linux driver >= 580). A node with an older driver is refused before any work starts
# (`study run` checks every GPU node: "node ... offers GPUs to Ray but torch cannot use them").
# For drivers 525-579 build with a CUDA 12 torch instead:
#   make image TORCH_INDEX=https://download.pytorch.org/whl/cu126
ARG RAY_IMAGE=rayproject/ray:2.60.0-py311-gpu
FROM ${RAY_IMAGE}

WORKDIR /home/ray/gan-augment-study

# Dependencies first, from the tested versions alone: a code change rebuilds only the last layers.
# The image's own Ray is the constrained one, so pip leaves it in place.
ARG TORCH_INDEX=https://pypi.org/simple
COPY --chown=ray:users constraints.txt ./
RUN grep -E '^(torch|torchvision)==' constraints.txt > /tmp/torch.txt \
 && pip install --no-cache-dir --index-url "${TORCH_INDEX}" --extra-index-url https://pypi.org/simple \
        -r /tmp/torch.txt \
 && rm /tmp/torch.txt

COPY --chown=ray:users pyproject.toml README.md ./
COPY --chown=ray:users study ./study
COPY --chown=ray:users trainables ./trainables
COPY --chown=ray:users analysis ./analysis
# The MLflow extra too: a [tracking] mlflow section then works on every node without a rebuild.
RUN pip install --no-cache-dir -c constraints.txt '.[mlflow]' \
 && python -c "import study, trainables, analysis, torch, torchvision, ray; assert ray.__version__ == '2.60.0'"

# env.json records this as the source's git sha when a job's working dir carries no .git
# (a job submitted with its own STUDY_GIT_SHA in the runtime env overrides it).
ARG GIT_SHA=""
ENV STUDY_GIT_SHA=${GIT_SHA}
