# The Airflow image the docker-compose deployment runs: the official image with this provider.
#
#   docker compose build           # then: docker compose up (or --profile sandbox up for the demo)
#
# Installing into the image, not through _PIP_ADDITIONAL_REQUIREMENTS, keeps container starts fast
# and every container (api-server included, which renders the connection forms) on the same code.
FROM apache/airflow:3.3.2 AS airflow

COPY --chown=airflow:root pyproject.toml README.md LICENSE MANIFEST.in CHANGELOG.md /opt/cscs-dwdi/
COPY --chown=airflow:root requirements/constraints.txt /opt/cscs-dwdi/requirements/constraints.txt
COPY --chown=airflow:root airflow_provider_cscs_dwdi /opt/cscs-dwdi/airflow_provider_cscs_dwdi

# Pinning apache-airflow to the image's own version stops pip from up- or downgrading Airflow
# while resolving the provider's requirements. The extras are the scale-out ones (docs/scale-out.md):
# [celery] for the CeleryExecutor workers, [s3] for an s3:// archive_path and the XCom
# object-storage backend; the project's constraints keep the combination the tests ran. The build
# fails unless Airflow discovers the provider (checked in a throw-away AIRFLOW_HOME so no airflow.cfg lands in the image).
RUN pip install --no-cache-dir -c /opt/cscs-dwdi/requirements/constraints.txt \
        "apache-airflow==${AIRFLOW_VERSION}" "/opt/cscs-dwdi[s3,celery]" \
    && AIRFLOW_HOME="$(mktemp -d)" airflow providers get airflow-provider-cscs-dwdi


# The sandbox services of `docker compose --profile sandbox up` (DWDI and Waldur doubles): the same
# image plus the sandbox code and the libraries it needs. Never deployed to production.
FROM airflow AS sandbox

RUN pip install --no-cache-dir -c /opt/cscs-dwdi/requirements/constraints.txt \
        "apache-airflow==${AIRFLOW_VERSION}" "/opt/cscs-dwdi[test,s3,celery]"
COPY --chown=airflow:root sandbox /opt/cscs-dwdi/sandbox
WORKDIR /opt/cscs-dwdi
