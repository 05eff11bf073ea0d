"""ComfyUI nodes (V3 API): thin adapters over ``vcast_core``, one node per pipeline stage."""

from comfy_api.latest import ComfyExtension, io

NODES: list[type[io.ComfyNode]] = []


class VCastExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return NODES
