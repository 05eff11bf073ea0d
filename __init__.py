"""ComfyUI entry point of the V-CAST node pack. The tensor logic lives in ``vcast_core``, which runs without ComfyUI."""


async def comfy_entrypoint():
    """Called by ComfyUI. The node modules import ComfyUI's API, so they are imported here, not with the package."""
    from .nodes import VCastExtension

    return VCastExtension()
