"""The file layer: where a study's and the GAN cache's files live (a path, s3:// or gs://), their locks and
records. No torch: the study driver, the CLI and the analysis package read results through this room alone."""
