"""LAIONet's images (paper §2): downloads and the OCR filter per part, the external labelled image
folders, and the image side's job."""
