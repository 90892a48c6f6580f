"""Datasets in one schema, id mapping, splits, negative sampling and synthetic data."""

from hncf.data.download import (
    ChecksumError,
    DownloadError,
    default_cache_dir,
    fetch,
    file_hashes,
    verify_checksum,
)
from hncf.data.movielens import (
    MOVIELENS_NAMES,
    MOVIELENS_RELEASES,
    MovieLensData,
    Release,
    download_movielens,
    get_release,
    load_interactions_csv,
    load_movielens,
    parse_year,
    read_movielens_dir,
    resolve_data_dir,
)
from hncf.data.sampling import (
    TestNegatives,
    load_test_negatives,
    sample_negatives,
    sample_test_negatives,
    save_test_negatives,
    user_item_csr,
)
from hncf.data.schema import (
    GENRES,
    IMDB_ID,
    INTERACTION_COLUMNS,
    ITEM,
    ITEM_COLUMNS,
    RATING,
    TAGS,
    TIMESTAMP,
    TITLE,
    TMDB_ID,
    USER,
    YEAR,
    IdMap,
    SchemaError,
    check_interactions,
    encode_interactions,
)
from hncf.data.splits import (
    VALIDATION_METHODS,
    chrono_ratio_split,
    filter_to_train,
    leave_one_out_split,
    random_split,
    stratified_split,
    validation_split,
)
from hncf.data.synthetic import (
    SYNTHETIC_FORMATS,
    synthetic_interactions,
    write_synthetic_movielens,
)

__all__ = [
    "ChecksumError", "DownloadError", "default_cache_dir", "fetch", "file_hashes", "verify_checksum",
    "MOVIELENS_NAMES", "MOVIELENS_RELEASES", "MovieLensData", "Release", "download_movielens",
    "get_release", "load_interactions_csv", "load_movielens", "parse_year", "read_movielens_dir",
    "resolve_data_dir",
    "TestNegatives", "load_test_negatives", "sample_negatives", "sample_test_negatives",
    "save_test_negatives", "user_item_csr",
    "GENRES", "IMDB_ID", "INTERACTION_COLUMNS", "ITEM", "ITEM_COLUMNS", "RATING", "TAGS", "TIMESTAMP",
    "TITLE", "TMDB_ID", "USER", "YEAR", "IdMap", "SchemaError", "check_interactions",
    "encode_interactions",
    "VALIDATION_METHODS", "chrono_ratio_split", "filter_to_train", "leave_one_out_split",
    "random_split", "stratified_split", "validation_split",
    "SYNTHETIC_FORMATS", "synthetic_interactions", "write_synthetic_movielens",
]
