"""Airflow DAGs for mlscale.

mlscale is idempotent by ds: an Airflow retry or a backfill of the same ds replaces that
partition, never duplicates it. Exit codes: 0 ok, 1 runtime failure (retry), 2 invalid job
(do not retry), 3 quality gate, 4 another run holds the partition.
"""
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

SHARDS = 4

with DAG(
    dag_id="churn_daily",
    schedule="0 6 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=True,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
) as dag:
    # One process on the Airflow worker.
    score = BashOperator(
        task_id="score",
        bash_command="mlscale score --job /opt/mlscale/jobs/churn_daily.yaml --param ds={{ ds }} --log-format json",
        env={"DATABASE_URL": "{{ conn.analytics.get_uri() }}"},
        append_env=True,
    )

with DAG(
    dag_id="churn_daily_sharded",
    schedule="0 6 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
) as sharded:
    # Dynamic task mapping: one pod per shard; each shard publishes its own rows.
    KubernetesPodOperator.partial(
        task_id="score_shard",
        name="mlscale-score",
        image="ghcr.io/example/mlscale:0.1.0",
        cmds=["mlscale"],
        env_vars={"DATABASE_URL": "{{ conn.analytics.get_uri() }}"},
        get_logs=True,
    ).expand(
        arguments=[
            ["score", "--job", "/opt/mlscale/jobs/churn_daily.yaml", "--param", "ds={{ ds }}", "--shard", f"{i}/{SHARDS}", "--log-format", "json"]
            for i in range(SHARDS)
        ]
    )
