# replog node image: the same `replog` command as on a laptop, run as a non-root user.
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 replog && mkdir /data && chown replog /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .

USER replog
VOLUME /data
ENV REPLOG_DATA_DIR=/data \
    REPLOG_BIND_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
EXPOSE 7000 8000 9000
# Finds the node by the data directory it holds, so one check serves the master and every secondary.
HEALTHCHECK --interval=5s --timeout=4s --start-period=10s --retries=3 CMD ["replog", "healthcheck"]
CMD ["replog", "master"]
