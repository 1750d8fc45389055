"""Airflow DAGs for mlscale, for Airflow 2.x and 3.

ds is the day of the run's scheduled time, in UTC (the job's timezone): the day the crontab,
the CronJob, the systemd timer and `mlscale schedule` score. `{{ ds }}` cannot say that on both
versions (Airflow 2 gives the start of the data interval, the day before; Airflow 3's default
timetable gives the run's own day); `{{ data_interval_end | ds }}` is the scheduled time on both.

mlscale is idempotent by ds: a retry or a backfill of the same ds replaces that partition, never
duplicates it. Exit codes: 0 ok; 1 runtime failure and 4 (another run holds the partition) are
retried; 2 (invalid job) and 3 (quality gate) fail at once, since a retry would fail the same way.

The database URL never goes through a template field, where the rendered fields (UI, API) would
show it and a percent-encoded password would escape Airflow's masking: the BashOperator reads the
connection `analytics` when the task runs, and the pods get the Kubernetes Secret `mlscale-db`
(the one deploy/kubernetes uses).
"""

from datetime import datetime, timedelta

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:  # Airflow 3.1+: the task SDK owns them (airflow.exceptions re-exports them, deprecated)
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
except ImportError:  # Airflow 2 and 3.0
    from airflow.exceptions import AirflowFailException, AirflowSkipException
try:  # Airflow 3 (airflow.operators.bash is gone), and Airflow 2 with the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret

JOB = "/opt/mlscale/jobs/churn_daily.yaml"
DS = "ds={{ data_interval_end | ds }}"
SHARDS = 4
# Codes a retry cannot fix. The operators report an exit code only through skip_on_exit_code, so
# these are "skipped" there and turned into a failure without retry below.
NO_RETRY = (2, 3)
NO_RETRY_MESSAGE = "mlscale: invalid job (exit 2) or failed quality gate (exit 3); not retried"


def connection_uri(conn_id):
    """The Airflow connection as a URI, read when the task runs (never at parse time)."""
    try:  # Airflow 3: through the task SDK
        from airflow.sdk import Connection

        return Connection.get(conn_id).get_uri()
    except ImportError:  # Airflow 2
        from airflow.hooks.base import BaseHook

        return BaseHook.get_connection(conn_id).get_uri()


class MlscaleBashOperator(BashOperator):
    """Runs mlscale with DATABASE_URL from an Airflow connection; exit 2 and 3 are not retried."""

    def __init__(self, *, conn_id, **kwargs):
        super().__init__(skip_on_exit_code=NO_RETRY, append_env=True, **kwargs)
        self.conn_id = conn_id

    def get_env(self, context):
        env = super().get_env(context)
        env["DATABASE_URL"] = connection_uri(self.conn_id)
        return env

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowSkipException as skip:
            raise AirflowFailException(f"{NO_RETRY_MESSAGE} ({skip})") from skip


class MlscalePodOperator(KubernetesPodOperator):
    """KubernetesPodOperator whose exit 2 and 3 are not retried (deferrable or not)."""

    def __init__(self, **kwargs):
        super().__init__(skip_on_exit_code=NO_RETRY, **kwargs)

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowSkipException as skip:
            raise AirflowFailException(f"{NO_RETRY_MESSAGE} ({skip})") from skip

    def trigger_reentry(self, context, event):
        try:
            return super().trigger_reentry(context, event)
        except AirflowSkipException as skip:
            raise AirflowFailException(f"{NO_RETRY_MESSAGE} ({skip})") from skip


with DAG(
    dag_id="churn_daily",
    schedule="0 6 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=True,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
) as dag:
    # One process on the Airflow worker, which needs `mlscale` on its PATH and the job file.
    MlscaleBashOperator(
        task_id="score",
        conn_id="analytics",
        bash_command=f"mlscale score --job {JOB} --param {DS} --log-format json",
        env={"ORT_DISABLE_TELEMETRY": "1"},
    )

with DAG(
    dag_id="churn_daily_sharded",
    schedule="0 6 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
) as sharded:
    # Dynamic task mapping: one pod of the job image per shard; each shard publishes its own rows.
    MlscalePodOperator.partial(
        task_id="score_shard",
        name="mlscale-score",
        image="ghcr.io/example/mlscale-churn:0.1.0",
        cmds=["mlscale"],
        secrets=[Secret("env", "DATABASE_URL", "mlscale-db", "url")],
        get_logs=True,
    ).expand(
        arguments=[
            ["score", "--job", JOB, "--param", DS, "--shard", f"{i}/{SHARDS}", "--log-format", "json"]
            for i in range(SHARDS)
        ]
    )
