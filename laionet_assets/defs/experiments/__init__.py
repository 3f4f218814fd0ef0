"""The paper's explanation put to the test: LAION's candidates selected by their image instead of
their caption (laionet_image_selected → selection_comparison), and the completed rating study
(rating_study_results)."""
