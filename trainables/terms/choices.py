"""The fixed choices a study file may name, in one place that imports nothing heavy: the study's
schema checks a file against them without importing torch, and the training code enforces the same
tuples."""

CONDITIONINGS = ("per-class", "conditional")   # one GAN per class, or one class-conditional GAN
# The registries' names (trainables.gan.archs.GANS, trainables.classifier.models.CLASSIFIERS are built on
# these, each name with its torch code), so that a study file's names are checked without importing torch.
GAN_ARCHS = ("abadi", "dcgan", "hooda", "dagan")
CONDITIONAL_ONLY_ARCHS = frozenset({"dagan"})  # DAGAN: its discriminator is a 2K-way classifier
CLASSIFIER_NAMES = ("mlp", "cnn2", "lenet", "alexnet", "inception", "resnet18")
AUGMENTS = ("none", "classic")                 # the classifier's training-time augmentation
SCHEDULES = ("epochs", "steps", "early-stop")  # how long a classifier trains (trainables.classifier.fit)
# [gan] keys that are training options of a recipe (trainables.terms.gan_options.resolve_options)
GAN_OPTION_NAMES = ("loss", "diffaugment", "diffaugment_strength", "ema", "spectral_norm", "lr_d", "lr_g")
DEFAULT_DATA_ROOT = "~/.cache/study-data"      # where datasets are read and their decoded cache kept
FOLDER_PREFIX = "folder:"                      # dataset = "folder:PATH": an image folder per class
CSV_PREFIX = "csv:"                            # dataset = "csv:PATH": a label file of path,label[,split] rows

# Image decoding (trainables.data.decode): image_size, image_resize, image_channels. 28 to 128 pixels a side
# is what every model of the registries takes; "native" keeps the files' own, shared size.
IMAGE_SIZE_NATIVE = "native"
MIN_IMAGE_SIDE, MAX_IMAGE_SIDE_MODELS = 28, 128
IMAGE_RESIZES = ("resize", "center-crop", "pad")   # stretch | scale the short side, crop | scale the long side, pad
IMAGE_CHANNELS = ("auto", "grey", "rgb")           # auto: grey when every file is grey, else RGB
# Real subsets: equal counts per class (the papers' protocol) or the training split's class proportions.
SAMPLINGS = ("balanced", "stratified")
