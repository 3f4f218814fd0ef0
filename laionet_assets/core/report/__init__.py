"""What a person looks at: PNG figures, the gallery and the rating-study pairs."""
