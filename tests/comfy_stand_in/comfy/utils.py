"""Stand-in for ``comfy.utils``: a progress bar that records its updates."""

updates: list[tuple[int, int]] = []


class ProgressBar:
    def __init__(self, total: int, node_id=None):
        self.total, self.current = total, 0

    def update(self, value: int) -> None:
        self.current += value
        updates.append((self.current, self.total))
