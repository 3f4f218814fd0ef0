"""The Dagster layer, one folder per stage of the paper (its assets, checks, jobs and sensors side by
side); ``laionet_assets.definitions`` loads every module below this package."""
