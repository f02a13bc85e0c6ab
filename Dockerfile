FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY runner ./runner
COPY rules ./rules
RUN pip install --no-cache-dir .

USER nobody
ENTRYPOINT ["runner"]
CMD ["run"]
