"""ComfyUI nodes (V3 API): thin adapters over ``vcast_core``, one node per pipeline stage."""

from comfy_api.latest import ComfyExtension, io

from . import model_nodes, policy_nodes, token_nodes, video_nodes

NODES: list[type[io.ComfyNode]] = [
    *video_nodes.NODES,
    *model_nodes.NODES,
    *policy_nodes.NODES,
    *token_nodes.NODES,
]


class VCastExtension(ComfyExtension):
    async def on_load(self) -> None:
        model_nodes.register_model_folders()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        model_nodes.register_model_folders()  # on_load is not called by every ComfyUI version
        return NODES
