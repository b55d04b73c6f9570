# tank-twin image: build the wheel with a compiler, run it on a slim image as a non-root user.
#   docker build -t tank-twin .
#   docker run -p 4840:4840 -p 5020:5020 -p 9180:9180 -v ./deploy/twin/plant.toml:/etc/tank-twin/plant.toml:ro tank-twin

# --- build: compile the C++ core and build the wheels -------------------------------------
FROM python:3.11.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ cmake make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml CMakeLists.txt README.md ./
COPY core/ core/
COPY twin/ twin/
COPY nodesets/ nodesets/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- run: only the wheels, no compiler ------------------------------------------------------
FROM python:3.11.11-slim-bookworm AS run
RUN groupadd --system --gid 10001 twin \
 && useradd --system --uid 10001 --gid twin --home-dir /var/lib/tank-twin --create-home twin \
 && mkdir -p /etc/tank-twin \
 && chown twin:twin /var/lib/tank-twin
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY deploy/twin/plant.toml /etc/tank-twin/plant.toml
USER twin
WORKDIR /var/lib/tank-twin
# OPC UA, Modbus TCP, Prometheus metrics and health
EXPOSE 4840 5020 9180
ENV TWIN_CONFIG=/etc/tank-twin/plant.toml
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9180/healthz', timeout=2).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["tank-twin"]
CMD ["run"]
