"""What people read: the report page with every figure, the gallery and the rating-study pairs."""
