"""The Dagster code location: assets, checks, resources (per LAIONET_PROFILE), executor."""

import dagster as dg

from laionet_assets.assets.captions import caption_synset_similarity, captions_nearest_laion, imagenet_captions, laion_caption_index
from laionet_assets.assets.creation import imagenet_synsets, laionet, lemma_matches, text_sims
from laionet_assets.assets.evaluation import accuracy, model_predictions
from laionet_assets.assets.images import image_folders, laionet_final, laionet_images
from laionet_assets.assets.report import report
from laionet_assets.assets.similarity import image_embeddings, image_synset_similarity, intra_class_stats, v2_comparison
from laionet_assets.assets.text_matched import text_matched_images, text_matched_intra_class
from laionet_assets.checks import laionet_checks
from laionet_assets.executors import executor_from_env
from laionet_assets.profiles import resources_for
from laionet_assets.sensors import laionet_jobs, laionet_schedules, laionet_sensors

all_assets = [imagenet_synsets, lemma_matches, text_sims, laionet, laionet_images, laionet_final, image_folders,
              model_predictions, accuracy, image_embeddings, intra_class_stats, v2_comparison, report,
              image_synset_similarity, imagenet_captions, caption_synset_similarity, laion_caption_index, captions_nearest_laion,
              text_matched_images, text_matched_intra_class]

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=laionet_checks,
    jobs=laionet_jobs,
    sensors=laionet_sensors,
    schedules=laionet_schedules,
    resources=resources_for(),
    executor=executor_from_env(),
)
