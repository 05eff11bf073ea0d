"""Stand-in for ``comfy.utils``: a progress bar that records its updates (ComfyUI 0.3.64's methods)."""

updates: list[tuple[int, int]] = []


class ProgressBar:
    def __init__(self, total: int, node_id=None):
        self.total, self.current = total, 0

    def update_absolute(self, value: int, total: int | None = None, preview=None) -> None:
        if total is not None:
            self.total = total
        self.current = min(value, self.total)
        updates.append((self.current, self.total))

    def update(self, value: int) -> None:
        self.update_absolute(self.current + value)
