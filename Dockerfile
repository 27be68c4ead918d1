# Head Surgeon in a container: surgeond built with its CUDA backend on NVIDIA's CUDA devel image
# (nvcc and cuBLAS included), dependencies from the same install script as a bare machine.
#
#   docker build -t head-surgeon .
#   docker run --gpus all -p 127.0.0.1:8700:8700 -v surgeon-data:/var/lib/surgeond head-surgeon
#
# Models go under /var/lib/surgeond/models, corpora under /var/lib/surgeond/corpora (mount them).
# With a token: mount it and add the flag, e.g.
#   docker run ... -v ./token:/run/secrets/surgeond_token:ro head-surgeon \
#       serve --listen 0.0.0.0:8700 --data-dir /var/lib/surgeond --device cuda:0 \
#             --token-file /run/secrets/surgeond_token
# Without a GPU, give the flags with --device cpu instead of cuda:0.
# One job inline instead of the daemon:  docker run --gpus all ... head-surgeon run job.json
FROM nvidia/cuda:12.6.3-devel-ubuntu24.04

# GPU architecture for nvcc (90 = H100/H200, 80 = A100, 89 = L40/RTX 4090).
ARG CUDA_ARCH=90
# The Makefile's release build uses -march=native; an image must not depend on the CPU of
# the machine that built it, so the baseline is pinned here (the last -march wins).
ARG MARCH=x86-64-v3

ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /opt/head-surgeon
COPY . .

# Same dependency list as a bare machine; then a clean release build (nvcc is on the image,
# so the CUDA backend is linked in) installed as /usr/local/bin/surgeond.
RUN bash deploy/install-deps.sh \
 && rm -rf build \
 && make -j"$(nproc)" CUDA_ARCH="${CUDA_ARCH}" CFLAGS="-march=${MARCH}" \
 && install -m 0755 build/release/surgeond /usr/local/bin/surgeond \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --system --home-dir /var/lib/surgeond --shell /usr/sbin/nologin surgeond \
 && install -d -o surgeond -g surgeond -m 0750 \
      /var/lib/surgeond /var/lib/surgeond/models /var/lib/surgeond/corpora
USER surgeond
WORKDIR /var/lib/surgeond
VOLUME ["/var/lib/surgeond"]
EXPOSE 8700

HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD curl -fsS http://127.0.0.1:8700/api/v1/healthz || exit 1

# Inside a container the daemon must listen on all of the container's interfaces, or the
# published port cannot reach it; which host addresses see it is decided by `docker run -p`
# (the example above publishes it on the host's loopback only). A non-loopback address without
# --token-file needs --insecure-no-auth: publish the port on loopback only, or give a token.
ENTRYPOINT ["surgeond"]
CMD ["serve", "--listen", "0.0.0.0:8700", "--data-dir", "/var/lib/surgeond", \
     "--model-root", "/var/lib/surgeond/models", "--corpus-root", "/var/lib/surgeond/corpora", \
     "--device", "cuda:0", "--insecure-no-auth"]
