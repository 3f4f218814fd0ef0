"""LAIONet as a dataset people load: the rows of a set (``records``), written as an ImageFolder
(``imagefolder``), WebDataset shards (``webdataset``) or a Hugging Face ``datasets`` folder
(``hf``), with a dataset card (``card``), into a folder that appears whole or not at all
(``folder``)."""
