# The product image: Ray, Python, torch and this project, baked in once, so that cluster nodes start
# it instead of pip-installing several GB of torch each time the autoscaler adds one.
#
#   make image IMAGE=ghcr.io/your-org/gan-augment-study:0.1.0     # build (tags the source's git sha in)
#   make image IMAGE=... INDEX_URL=https://your-mirror/simple     # through your own package index
#   docker push ghcr.io/your-org/gan-augment-study:0.1.0          # then name it in cluster.yaml / RayJob
#
# One CUDA stack. The base is Ray's CPU image for Ray 2.60.0 and Python 3.11 (pyproject's Python, the
# constraints' Ray): it carries no CUDA toolkit. CUDA comes from one place only, the wheels
# constraints.txt pins: torch 2.14.1 and its nvidia-* runtime wheels (CUDA 13.0: cuda-runtime 13.0.x,
# cuDNN 9, NCCL, cuBLAS 13). Ray's GPU image would add a second, system CUDA under /usr/local/cuda
# that nothing here links against (torch loads its own), several GB and a second version to keep in
# step. The node supplies only the NVIDIA driver (the container toolkit mounts libcuda): one that runs
# CUDA 13.0, Linux driver >= 580. A node with an older driver is refused before any work starts
# (`study run` checks every GPU node: "node ... offers GPUs to Ray but torch cannot use them").
#
# Layers, slowest-changing first: the dependencies, from constraints.txt and pyproject's dependency
# list alone, then the source, then the package itself with --no-deps. A code change rebuilds only
# the source copies and the last install (seconds); tests/test_product_image.py checks this order.
ARG RAY_IMAGE=rayproject/ray:2.60.0-py311
FROM ${RAY_IMAGE}

# Made by the image's user (ray), not by WORKDIR (root): the last layer's build writes into it.
RUN mkdir -p /home/ray/gan-augment-study
WORKDIR /home/ray/gan-augment-study

# Empty: pip's own configured index (pip.conf / PIP_INDEX_URL of the build machine's image).
ARG INDEX_URL=""

# 1. Dependencies: the runtime dependencies, the MLflow extra ([tracking] mlflow works on every node)
#    and the cluster extra (the launcher's cloud clients on the head: no node pip-installs them) named in
#    pyproject.toml, at the tested versions of constraints.txt, plus the build backend the last layer
#    needs (no network there). The image's own Ray is the constrained one, so pip leaves it in place.
#    Only a change to constraints.txt or pyproject.toml rebuilds this layer.
COPY --chown=ray:users constraints.txt pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); b = p['build-system']['requires']; p = p['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['mlflow'] + p['optional-dependencies']['cluster'] + b))" > /tmp/requirements.txt \
 && pip install --no-cache-dir ${INDEX_URL:+--index-url "$INDEX_URL"} -c constraints.txt -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# 2. The source (every package the wheel ships, and the README its metadata reads).
COPY --chown=ray:users README.md ./
COPY --chown=ray:users study ./study
COPY --chown=ray:users trainables ./trainables
COPY --chown=ray:users analysis ./analysis

# 3. The package itself, last, without dependencies (they are all in layer 1) and without build
#    isolation (the backend is in layer 1 too), then a check that it imports with the tested Ray.
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
 && python -c "import study, trainables, analysis, torch, torchvision, ray; assert ray.__version__ == '2.60.0'"

# env.json records this as the source's git sha when a job's working dir carries no .git
# (a job submitted with its own STUDY_GIT_SHA in the runtime env overrides it).
ARG GIT_SHA=""
ENV STUDY_GIT_SHA=${GIT_SHA}
