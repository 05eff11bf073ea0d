"""ComfyUI entry point of the V-CAST node pack. The tensor logic lives in ``vcast_core``, which runs without ComfyUI."""

WEB_DIRECTORY = "./nodes/web"  # the frontend extension that shows the nodes' text results


async def comfy_entrypoint():
    """Called by ComfyUI. The node modules import ComfyUI's API, so they are imported here, not with the package."""
    from .nodes import VCastExtension

    return VCastExtension()
