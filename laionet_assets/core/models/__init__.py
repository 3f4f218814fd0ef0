"""The models (paper §3): CLIP's two towers, ImageNet classifiers, model sources, the loop that
runs image models over files, and cached image embeddings."""
