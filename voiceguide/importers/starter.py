"""The routine `voiceguide new` starts from: every field there is, explained where it stands, with
words that build as they are, so a newcomer can check and build it before changing anything."""
from __future__ import annotations

from .writer import scalar

_STARTER = """\
# {title}: a voiceguide routine. Every field is explained where it stands: change the words and
# keep the shape (two spaces per level, "- " before each item of a list, a ":" after each field).
# Check it with:  voiceguide check {file}
# Build it with:  voiceguide build {file}   (-> output/{stem}.mp3)

title: {title_yaml}  # spoken first; also the MP3's title and its file's name
about: A gentle routine to close the day.  # not spoken: the MP3's comment, what it is for
targets: >-  # its first sentence is spoken in the intro, after the title and length
  This routine releases your neck, back and hips after a long day.
# duration: "6:00"  # optional: the length the routine says it lasts; the intro and the
#   outro share what the holds leave (leave it out and they take what they need)
closing: >-  # spoken at the end, sentence by sentence as time allows (outro: works too)
  Take a moment to notice how you feel. Sleep well.
exercises:  # in order; a chime starts each one and ends the last
  - name: Neck Release  # spoken at its start, and the chapter's title
    duration: 1 minute  # the hold, chime to chime: 45, "0:45", "1 min 30", "90 seconds"
    sides: both  # one (the default) or both: a soft chime and "Switch sides." at the midpoint
    summary: Ease the tension you carry in your neck.  # spoken with --detail full
    difficulty: beginner  # kept with the routine, not spoken
    instructions:  # how to get into position: spoken first, in order
      - Sit tall and let your ear drop toward your shoulder.
    tips:  # spread over the hold, with silence between them to breathe
      - Let your shoulders sink away from your ears.
    adjustments:  # spoken with --detail full, or when there is time
      - Rest a hand on your head for a deeper stretch.

  - name: Child's Pose
    duration: 1 minute 30
    instructions:
      - Kneel, sit back on your heels and fold forward, arms long in front of you.
    tips:
      - Breathe slowly into your back.
      - Let your forehead rest on the floor.

  - name: Supine Twist
    duration: 1 minute
    sides: both
    instructions:
      - Lie on your back and let both knees fall to one side.
    tips:
      - Keep both shoulders on the floor.

# options:  # optional: build settings, as the command line has them (a flag there wins)
#   pace: 1.5  # every hold one and a half times as long
#   chime: bowl  # or bell, none, or a sound file
"""


def starter_routine(title: str, file: str, stem: str) -> str:
    """The starter routine titled `title`, to be saved as `file` (named in its comments)."""
    return _STARTER.format(title=" ".join(title.split()), title_yaml=scalar(" ".join(title.split())), file=file,
                           stem=stem)
