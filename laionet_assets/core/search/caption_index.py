"""A LanceDB vector index over LAION caption embeddings (paper §4.3).

One table per encoder (``laion_caption_index__<encoder>``): ``sample_id``, ``release_part``,
``vector`` (unit).  Parts are added incrementally with an upsert on ``sample_id``, so re-adding a
part is idempotent.  ``build`` chooses the search by size: an IVF-PQ index (cosine) when the
table has at least ``ann_min_rows`` rows, exact (flat) search below that.  ``nearest`` returns the
most similar caption per query by cosine similarity, exactly or through the index;
``recall_at_1`` compares the two on a sample.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pyarrow as pa

from laionet_assets.core.io.names import table_name
from laionet_assets.core.io.storage import home_path, lance_connect
from laionet_assets.core.search.faiss_shards import DEFAULT_NPROBE, DEFAULT_REFINE, FaissShards, PartWriter
from laionet_assets.core.search.nearest import exact_nearest

ANN_MIN_ROWS = 100_000
CAPTION_SCOPES = ("auto", "all", "matched")  # which captions of a part the index holds
SEARCH_ENGINES = ("auto", "exact", "faiss", "ivf_pq")


class CaptionIndex:
    """The LanceDB table of one encoder's indexed captions, and beside it (``<uri>/../faiss/<table>``)
    its persisted FAISS shards, one per part (``core.search.faiss_shards``)."""

    def __init__(self, uri: str, encoder_id: str):
        self.db = lance_connect(uri)
        self.name = table_name("laion_caption_index", encoder_id)
        self.shards_folder = home_path(uri).parent / "faiss" / self.name

    def shards(self, dim: int) -> FaissShards:
        return FaissShards(self.shards_folder, dim)

    def shard_writer(self, part: str, dim: int, expected_rows: int) -> PartWriter:
        """Writes ``part``'s FAISS shard beside its rows (``add`` per chunk, then ``close``)."""
        return self.shards(dim).writer(part, expected_rows)

    def part_rows(self) -> dict[str, int]:
        """Rows stored per part."""
        table = self._table()
        if table is None:
            return {}
        column = pl.from_arrow(table.search().select(["release_part"]).limit(None).to_arrow())
        return dict(column["release_part"].value_counts().iter_rows())

    def dim(self) -> int | None:
        table = self._table()
        return None if table is None else table.schema.field("vector").type.list_size

    def _table(self):
        try:
            return self.db.open_table(self.name)
        except (FileNotFoundError, ValueError):
            return None

    def count(self) -> int:
        table = self._table()
        return 0 if table is None else table.count_rows()

    def add_part(
        self,
        part: str,
        sample_ids: list[str],
        vectors: np.ndarray,
        texts: list[str] | None = None,
        urls: list[str] | None = None,
    ) -> int:
        """Upsert captions of one part (with their text and URL, so a caption no lemma matched can
        be reported); returns the rows now stored for the part."""
        if len(sample_ids) == 0:
            return 0
        dim = vectors.shape[1]
        n = len(sample_ids)
        data = pa.table(
            {
                "sample_id": pa.array(sample_ids, pa.string()),
                "release_part": pa.array([part] * n, pa.string()),
                "text": pa.array(texts if texts is not None else [None] * n, pa.string()),
                "url": pa.array(urls if urls is not None else [None] * n, pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(np.ascontiguousarray(vectors, np.float32).ravel()), dim
                ),
            }
        )
        table = self._table()
        if table is None:
            table = self.db.create_table(self.name, schema=data.schema, exist_ok=True)
        table.merge_insert("sample_id").when_matched_update_all().when_not_matched_insert_all().execute(data)
        return table.count_rows(f"release_part = '{part}'")

    def build(self, ann_min_rows: int = ANN_MIN_ROWS) -> str:
        """``ivf_pq`` (index built) for tables of ``ann_min_rows`` or more, else ``exact``."""
        table = self._table()
        n = 0 if table is None else table.count_rows()
        if n < ann_min_rows:
            return "exact"
        from lancedb.index import IvfPq

        dim = table.schema.field("vector").type.list_size
        sub_vectors = next(s for s in (dim // 8, dim // 4, dim // 2, 1) if s >= 1 and dim % s == 0)
        table.create_index(
            "vector",
            config=IvfPq(
                distance_type="cosine", num_partitions=max(1, int(math.sqrt(n))), num_sub_vectors=sub_vectors
            ),
            replace=True,
        )
        return "ivf_pq"

    def captions(self, sample_ids: pl.Series) -> pl.DataFrame:
        """``sample_id, url, text`` of the given stored captions (one pass over those columns)."""
        table = self._table()
        wanted = pl.DataFrame({"sample_id": sample_ids.cast(pl.String)}).unique()
        frames = [
            pl.from_arrow(b).join(wanted, on="sample_id", how="semi")
            for b in (
                table.search().select(["sample_id", "url", "text"]).limit(None).to_batches(1 << 20)
                if table is not None
                else []
            )
        ]
        schema = {"sample_id": pl.String, "url": pl.String, "text": pl.String}
        return pl.concat(frames) if frames else pl.DataFrame(schema=schema)

    def batches(self, batch_size: int = 262_144, part: str | None = None):
        """The stored ``(sample_ids, vectors)`` (of one ``part``, or all) in batches, in the table's
        order."""
        table = self._table()
        if table is None:
            return
        search = table.search().select(["sample_id", "vector"])
        if part is not None:
            search = search.where(f"release_part = '{part}'")
        for batch in search.limit(None).to_batches(batch_size):
            vectors = batch.column("vector")
            dim = vectors.type.list_size
            yield (
                batch.column("sample_id").to_pylist(),
                vectors.values.to_numpy(zero_copy_only=False).reshape(-1, dim),
            )

    def nearest_exact(
        self, queries: np.ndarray, device: str = "auto", batch_size: int = 262_144
    ) -> pl.DataFrame:
        """Exact search as chunked matrix products (``core.search.nearest``): one pass over the stored
        vectors, every query resident; the fast exact path, on a GPU above all."""
        ids: list[str] = []

        def stream():
            for sample_ids, vectors in self.batches(batch_size):
                ids.extend(sample_ids)
                yield vectors

        index, similarity = exact_nearest(queries, stream(), device)
        return _as_matches(index, similarity, ids)

    def current_shards(self, log=None) -> tuple[FaissShards | None, list[str]]:
        """The FAISS shards, with every part whose shard is missing or does not hold the part's
        stored rows (a run that died, a re-indexed part, another training) rebuilt from the table."""
        dim = self.dim()
        if dim is None:
            return None, []
        shards, stored = self.shards(dim), self.part_rows()
        have = shards.parts()
        for part, rows in sorted(stored.items()):
            if have.get(part) == rows:
                continue
            if log:
                log(f"FAISS shard of {part}: {have.get(part, 'none')} rows, the table {rows}; rebuilding")
            writer = shards.writer(part, rows * len(stored))
            for sample_ids, vectors in self.batches(part=part):
                writer.add(sample_ids, vectors)
            writer.close()
        return shards, list(stored)

    def nearest_faiss(
        self, queries: np.ndarray, nprobe: int = DEFAULT_NPROBE, refine: int = DEFAULT_REFINE, log=None
    ) -> pl.DataFrame:
        """Approximate search over the persisted FAISS shards (built per part as parts are indexed;
        any missing or stale one rebuilt first): IVF-PQ candidates re-ranked exactly, every query at
        once (batched, all cores)."""
        shards, parts = self.current_shards(log)
        if shards is None:
            return _as_matches(np.full(len(queries), -1), None, [])
        found, similarity, ids = shards.search(queries, nprobe, refine, parts=parts)
        return _as_matches(found, similarity, ids)

    def nearest(
        self,
        queries: np.ndarray,
        exact: bool = True,
        nprobes: int | None = None,
        refine_factor: int | None = None,
        chunk: int = 1024,
        device: str = "auto",
        engine: str | None = None,
    ) -> pl.DataFrame:
        """``query`` (row of ``queries``), ``sample_id`` and cosine ``similarity`` of the nearest
        caption: ``engine`` ``exact`` (chunked matrix products), ``faiss`` or ``ivf_pq``
        (LanceDB's index); without ``engine``, exact or ivf_pq as ``exact`` says."""
        engine = engine or ("exact" if exact else "ivf_pq")
        if engine == "exact":
            return self.nearest_exact(queries, device)
        if engine == "faiss":
            return self.nearest_faiss(queries, nprobes or DEFAULT_NPROBE, refine_factor or DEFAULT_REFINE)
        table = self._table()
        frames = []
        if table is not None and len(queries):
            for start in range(0, len(queries), chunk):
                block = np.ascontiguousarray(queries[start : start + chunk], np.float32)
                search = (
                    table.search(block).distance_type("cosine").limit(1).select(["sample_id", "_distance"])
                )
                search = search.nprobes(nprobes or 32).refine_factor(refine_factor or 10)
                result = pl.from_arrow(search.to_arrow())
                if "query_index" not in result.columns:  # a single query comes back without it
                    result = result.with_columns(query_index=pl.lit(0))
                frames.append(
                    result.select(
                        query=pl.col("query_index").cast(pl.Int64) + start,
                        sample_id="sample_id",
                        similarity=(1 - pl.col("_distance")).cast(pl.Float32),
                    )
                )
        if not frames:
            return pl.DataFrame(schema={"query": pl.Int64, "sample_id": pl.String, "similarity": pl.Float32})
        return pl.concat(frames).sort("query")


def _as_matches(found: np.ndarray, similarity: np.ndarray | None, ids: list[str]) -> pl.DataFrame:
    """``query, sample_id, similarity`` of the queries that found something (index ≥ 0)."""
    hit = found >= 0
    return pl.DataFrame(
        {
            "query": np.flatnonzero(hit).astype(np.int64),
            "sample_id": pl.Series([ids[i] for i in found[hit]], dtype=pl.String),
            "similarity": similarity[hit] if similarity is not None else np.zeros(0, np.float32),
        },
        schema={"query": pl.Int64, "sample_id": pl.String, "similarity": pl.Float32},
    )


def recall_at_1(
    index: CaptionIndex,
    queries: np.ndarray,
    sample: int = 1000,
    seed: int = 0,
    found: pl.DataFrame | None = None,
    **ann,
) -> float:
    """Share of a seeded sample of queries whose approximate nearest caption is the exact one.
    ``found``: the approximate search's answers for all of ``queries`` when already computed (an
    index built at query time is not built again); else the sample is searched with ``ann``
    (``engine`` and its parameters, as ``CaptionIndex.nearest`` takes them)."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(queries), size=min(sample, len(queries)), replace=False))
    exact = index.nearest(queries[rows], engine="exact")
    if found is None:
        approx = index.nearest(queries[rows], **{"exact": False, **ann})
    else:
        approx = (
            found.join(pl.DataFrame({"query": rows.astype(np.int64)}).with_row_index("at"), on="query")
            .with_columns(query=pl.col("at").cast(pl.Int64))
            .drop("at")
        )
    joined = exact.join(approx, on="query", suffix="_ann")
    return float((joined["sample_id"] == joined["sample_id_ann"]).mean()) if joined.height else float("nan")


def match_nearest(
    captions: pl.DataFrame, nearest: pl.DataFrame, threshold: float = 0.7
) -> tuple[pl.DataFrame, dict]:
    """Every LAION row that is some ImageNet-Captions text's nearest caption, once, labelled with
    the class of its most similar text (ties: the earlier text), and ``selected`` where that
    similarity exceeds ``threshold``: the text-matched dataset (paper §4.3).

    Keeping each LAION row's best match before thresholding gives the same dataset as
    thresholding first and then keeping one match per row (a row's best match exceeds t exactly
    when some match does), so this one table answers every threshold (Appendix E).
    ``captions`` row i is query i of ``nearest``.  Counts are at ``threshold``."""
    matched = (
        captions.with_row_index("query")
        .with_columns(pl.col("query").cast(pl.Int64))
        .join(nearest, on="query", how="inner")
    )
    best = (
        matched.sort(["similarity", "query"], descending=[True, False])
        .unique("sample_id", keep="first", maintain_order=True)
        .sort("query")
    )
    above = pl.col("similarity") > threshold  # compared in the column's precision (float32)
    out = best.select("sample_id", "wnid", "similarity", imagenet_filename="filename", selected=above)
    selected = out.filter("selected")
    counts = {
        "texts": captions.height,
        "above_threshold": matched.filter(above).height,
        "duplicate_laion_matches": matched.filter(above).height - selected.height,
        "rows": selected.height,
        "classes": selected["wnid"].n_unique(),
        "laion_rows_matched_at_any_similarity": out.height,
    }
    return out, counts
