"""The job mlscale's bench compares itself with, written as a Python engineer would write it.

    python3 python_peer.py train URL TABLE MODEL_JSON   # fit the forest both sides score with (untimed)
    python3 python_peer.py score URL TABLE OUT_TABLE DS # read, predict_proba, replace the day, COPY

`train` fits scikit-learn's RandomForestClassifier on the feature table and writes its trees as
JSON, from which the bench builds the same forest as an ONNX TreeEnsembleRegressor (averaging
the leaves' class-1 shares is exactly predict_proba[:, 1]), and pickles the fitted model for
`score`. `score` is the script: pandas read_sql, predict_proba, one transaction that deletes the
day's rows and COPYs the new ones. It prints one JSON line: rows, seconds, peak RSS in MB.
"""

import io
import json
import pickle
import resource
import sys
import time

import numpy as np
import pandas as pd
import psycopg2
from sklearn.ensemble import RandomForestClassifier


def features_of(df):
    return [c for c in df.columns if c.startswith("f")]


def train(url, table, model_json):
    with psycopg2.connect(url) as conn:
        df = pd.read_sql(f"SELECT * FROM {table} ORDER BY id LIMIT 20000", conn)
    cols = features_of(df)
    x = df[cols].to_numpy(dtype=np.float32)
    # A label the trees can learn: a few features interact, plus noise.
    rng = np.random.default_rng(0)
    y = ((x[:, 0] + x[:, 1] * x[:, 2] - x[:, 3] + rng.normal(0, 0.2, len(x))) > 0.6).astype(int)
    model = RandomForestClassifier(n_estimators=60, max_depth=8, random_state=0).fit(x, y)
    trees = []
    for est in model.estimators_:
        t = est.tree_
        counts = t.value[:, 0, :]
        trees.append(
            {
                "left": t.children_left.tolist(),
                "right": t.children_right.tolist(),
                "feature": t.feature.tolist(),
                "threshold": t.threshold.tolist(),
                "p1": (counts[:, 1] / counts.sum(axis=1)).tolist(),
            }
        )
    with open(model_json, "w") as f:
        json.dump({"features": len(cols), "trees": trees}, f)
    with open(model_json + ".pkl", "wb") as f:
        pickle.dump(model, f)


def score(url, table, out_table, ds, model_pkl):
    start = time.perf_counter()
    with open(model_pkl, "rb") as f:
        model = pickle.load(f)
    conn = psycopg2.connect(url)
    df = pd.read_sql(f"SELECT * FROM {table}", conn)
    cols = features_of(df)
    scores = model.predict_proba(df[cols].to_numpy(dtype=np.float32))[:, 1]
    out = pd.DataFrame({"id": df["id"], "ds": ds, "score": scores})
    buf = io.StringIO()
    out.to_csv(buf, index=False, header=False)
    buf.seek(0)
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {out_table} (id bigint, ds text, score double precision)")
        cur.execute(f"DELETE FROM {out_table} WHERE ds = %s", (ds,))
        cur.copy_expert(f"COPY {out_table} (id, ds, score) FROM STDIN WITH (FORMAT csv)", buf)
    conn.close()
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": len(out), "seconds": seconds, "peak_rss_mb": round(rss)}))


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(*sys.argv[2:5])
    else:
        score(*sys.argv[2:7])
