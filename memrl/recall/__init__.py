"""Recording what memory agents recall, episode records, and replays with recall overlays.

Python API::

    from memrl.recall import record_episodes, load_episode

    records = record_episodes(model, "memrl/TMaze-v0", n=5, top_k=3, frames=True, seed=0)
    records[0].source_steps  # [T, R, K]: which past step each top-k read came from
    records[0].save("ep0.npz"); load_episode("ep0.npz")

``RecallRecorder`` does the per-step work for any loop (several envs at once);
``RecallCallback`` records episodes during ``MemoryPPO.learn``.
"""

from memrl.recall.callback import RecallCallback
from memrl.recall.playback import record_episodes
from memrl.recall.recorder import RecallRecorder
from memrl.recall.records import SCHEMA_VERSION, EpisodeRecord, RecordError, load_episode

__all__ = [
    "SCHEMA_VERSION",
    "EpisodeRecord",
    "RecallCallback",
    "RecallRecorder",
    "RecordError",
    "load_episode",
    "record_episodes",
]

# Replay, in layers (each imports only those above it in this list): the recall map
# (maps), MNM's write similarities (similarity), one composed frame (drawing), whole
# episodes (episodes), the HTML page (html), the still PNG (still), and the GIF/MP4 writers
# with write_replay choosing by suffix (render).
from memrl.recall.drawing import compose_step
from memrl.recall.episodes import episode_frames
from memrl.recall.html import write_html
from memrl.recall.maps import recall_map
from memrl.recall.render import write_gif, write_mp4, write_replay
from memrl.recall.similarity import similarity_image, write_similarity
from memrl.recall.still import still_image, write_png

__all__ += [
    "compose_step",
    "episode_frames",
    "recall_map",
    "similarity_image",
    "still_image",
    "write_gif",
    "write_html",
    "write_mp4",
    "write_png",
    "write_replay",
    "write_similarity",
]
