"""The built-in prompt sets of the Bench screen, shipped as constants so no package data is needed.

Each set stresses a different part of inference: a short question measures time to first token and
decode speed with almost no prefill; the summary feeds about a thousand tokens of prose, so prompt
processing (prefill) dominates its first token; the code prompt yields a long, structured reply.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BenchPrompt:
    """One prompt of a set: a short name for tables and the text sent as the user message."""

    name: str
    text: str


SHORT_QUESTION = "In one sentence: why is the sky blue?"

CODE_TASK = (
    "Write a Python function `moving_average(values: list[float], window: int) -> list[float]` "
    "that returns the simple moving average of `values` over `window` items. Validate the "
    "arguments, keep it O(n), add a docstring, and show two example calls with their output."
)

# Original text written for this benchmark (about 1,000 tokens with common tokenizers).
LONG_TEXT = """\
The harbour town of Kestrel Bay kept a single weather station for almost ninety years. It stood on \
the roof of the old customs house, a white box of louvred wood holding two thermometers, a \
barometer and a rain gauge that the harbour master read every morning at eight. The readings went \
into a ledger, and once a month the ledger was copied by hand and posted to the national weather \
office. Nobody in town thought of the station as a network, or even as a machine; it was a habit, \
like ringing the noon bell.

That changed after the storm of the autumn equinox, when a squall line crossed the bay in under \
twenty minutes. The customs-house barometer recorded the pressure drop, but the reading was only \
seen the next morning. Three fishing boats were caught outside the breakwater. All of them came \
home, though one lost its mast, and the town council asked a question that the harbour master \
could not answer: if the pressure had been falling for an hour, why had nobody known?

A retired electrical engineer named Ilse Marrow offered to find out. She spent the winter building \
small stations from parts anyone could order: a microcontroller, a pressure and humidity sensor, a \
temperature probe in a shaded tube, and a solar panel the size of a paperback book. Each station \
cost less than a good pair of boots. By spring there were eleven of them, bolted to the school, the \
lifeboat shed, two farms on the headland, the lighthouse gallery and several houses along the \
ridge road. Every station sent a reading each minute over a low-power radio link to a receiver in \
the library, where an old desktop computer stored the figures and drew them as lines on a screen.

The first months were humbling. Two stations reported temperatures ten degrees too high because \
their tubes faced the afternoon sun. The lighthouse station went silent whenever fog settled, which \
turned out to be condensation shorting a connector. One farm station recorded a pressure drop every \
evening at six, regular as a clock; after a week of puzzlement Marrow found that a farmer closed a \
heavy barn door beside it when he brought the cows in. Each fault was fixed, written down and \
shared in a plain notebook at the library so that the next builder would not repeat it.

By the second year the network had earned trust. Fishermen checked the library screen before \
dawn, and the lifeboat crew asked for an alarm. Marrow wrote a small program that compared each \
station with its neighbours and with its own last three hours. When pressure fell faster than a \
set rate at three or more stations at once, the program sounded a buzzer in the lifeboat shed and \
sent a text message to the harbour master. The rule was simple on purpose: the crew had to \
understand why the alarm rang, or they would learn to ignore it. In its first season the alarm \
rang four times. Twice a squall followed within the hour; once the weather office had already \
issued a warning; once nothing happened at all, and the false alarm was traced to a station whose \
battery was failing and whose readings drifted as the voltage sagged.

The data soon found other users. The school used a decade of minute-by-minute readings to teach \
statistics, and pupils discovered that the ridge road was on average a degree and a half colder \
than the harbour on clear nights, because cold air drained down the valley and pooled along it. \
The farms used humidity and temperature to time hay cutting. The national weather office, which \
had politely ignored the project at first, began to ask for the readings in real time, because \
its own nearest station was forty kilometres inland and saw the sea breeze hours late.

Not everything went well. A storm surge flooded the library basement and destroyed the computer, \
along with six months of readings that had never been copied anywhere else. After that the town \
kept two copies of the data in two buildings and a third with a volunteer in the next valley. A \
dispute arose over who owned the readings: a company offered to buy the whole archive, and the \
council had to decide whether data gathered by volunteers on public buildings could be sold at \
all. It decided that it could not, and published the archive under an open licence instead.

Looking back, Marrow said the hardware had been the easy part. The hard parts were keeping \
volunteers interested after the novelty wore off, writing down every fault and its fix, and \
resisting the temptation to make the alarm clever. A station network, she said, is less a set of \
instruments than a set of habits, and the old customs-house ledger had been teaching the town \
that lesson for ninety years.
"""

SUMMARY_TASK = (
    "Summarise the following account in five bullet points, then state its main lesson in one "
    "sentence.\n\n" + LONG_TEXT
)

PROMPT_SETS: dict[str, tuple[BenchPrompt, ...]] = {
    "short": (BenchPrompt("short", SHORT_QUESTION),),
    "summary": (BenchPrompt("summary", SUMMARY_TASK),),
    "code": (BenchPrompt("code", CODE_TASK),),
    "mixed": (
        BenchPrompt("short", SHORT_QUESTION),
        BenchPrompt("summary", SUMMARY_TASK),
        BenchPrompt("code", CODE_TASK),
    ),
}
"""Prompt set name -> its prompts, in the order the Bench screen cycles through them."""

PROMPT_SET_HELP: dict[str, str] = {
    "short": "one-line question: TTFT, decode",
    "summary": "summarise ~1k tokens: prefill",
    "code": "code task, long reply: decode",
    "mixed": "short, summary and code",
}
