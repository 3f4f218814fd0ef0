"""Where outputs live and how they are written: the home (local or object store), atomic writes,
progress of long loops."""
