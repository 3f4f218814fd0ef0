"""The image side: downloading by URL, decoding to RGB, preprocessing, batch decoders, the OCR
filter, and labelled image folders (ImageNet val, ImageNetV2)."""
