"""Items spread over Ray actors that each load the model once; records come back as items finish.

Ray is optional: it is imported only here, when a job asks for it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError
from .manifest import Item
from .work import BatchSettings, ItemRunner

PACKAGE = Path(__file__).resolve().parents[1]  # vcast_core, shipped to every worker so all run this version


class RayError(InputError):
    """Ray is missing, the cluster cannot hold the workers asked for, or a worker failed."""


def _import_ray():
    try:
        import ray
    except ImportError:
        raise RayError(
            "--ray needs Ray: pip install ray (CPU or GPU alike; 'ray[default]' adds the dashboard)"
        ) from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail fast where nothing listens at ``host:port``: Ray itself keeps retrying for minutes."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as err:
        raise RayError(
            f"nothing answers at {address} ({err}); start the cluster with `ray start --head` on its head node "
            "and give --ray the address it prints"
        ) from None


def start_ray(address: str | None = None, **options):
    """Join the cluster at ``address``, or start a local one, shipping this copy of vcast_core to its workers.

    ``options`` go to ``ray.init`` (e.g. ``num_cpus``). Returns the ``ray`` module.
    """
    ray = _import_ray()
    options.setdefault("include_dashboard", False)
    if address:
        _check_reachable(address)
    try:
        ray.init(address=address or "local", runtime_env={"py_modules": [str(PACKAGE)]}, **options)
    except ConnectionError as err:
        raise RayError(
            f"could not join the Ray cluster at {address}: {err}. `ray status` on its head node prints the address; "
            "a cluster with token authentication also needs RAY_AUTH_MODE=token here and its token "
            "(~/.ray/auth_token or RAY_AUTH_TOKEN)"
        ) from None
    return ray


def _worker_resources(ray, workers: int | None, gpus_per_worker: float) -> tuple[int, dict, str]:
    """How many actors, what each reserves, and a line that says so: GPUs where the cluster has them."""
    resources = ray.cluster_resources()
    gpus, cpus = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
    if gpus:
        count = workers or int(gpus // gpus_per_worker)
        if count * gpus_per_worker > gpus:
            raise RayError(
                f"the Ray cluster has {gpus:g} GPUs; {count} workers with --gpus-per-worker {gpus_per_worker:g} "
                f"need {count * gpus_per_worker:g}: lower --workers or --gpus-per-worker"
            )
        return count, dict(num_gpus=gpus_per_worker), f"{gpus_per_worker:g} GPU each, of {gpus:g}"
    count = workers or 1
    if count > cpus:
        raise RayError(f"the Ray cluster has {cpus:g} CPUs and no GPU; --workers {count} needs one CPU each")
    return count, dict(num_cpus=1), f"1 CPU each (no GPU in the cluster), of {cpus:g}"


def ray_answers(
    settings: BatchSettings,
    groups: list[list[tuple[Item, tuple[float, ...]]]],
    address: str | None,
    workers: int | None,
    gpus_per_worker: float,
    log,
) -> Iterator[list[list[dict]]]:
    """Answer ``groups`` (one video's pending items each) on Ray: the connected cluster (see :func:`start_ray`),
    else the one at ``address``, else a new local one that is shut down afterwards."""
    ray = _import_ray()
    from ray.util import ActorPool

    started = not ray.is_initialized()
    if started:
        start_ray(address)
    actors = []
    try:
        count, resources, described = _worker_resources(ray, workers, gpus_per_worker)
        print(f"Ray: {count} workers, {described}", file=log, flush=True)
        worker = ray.remote(ItemRunner).options(**resources)
        actors = [worker.remote(settings) for _ in range(count)]
        pool = ActorPool(actors)
        try:
            yield from pool.map_unordered(lambda actor, group: actor.answer.remote(group), groups)
        except ray.exceptions.RayError as err:
            cause = str(err).strip().splitlines()[-1]  # the worker's exception; its traceback is in the worker log
            raise RayError(f"a Ray worker failed: {cause}. The results so far are kept; rerun to resume") from None
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
