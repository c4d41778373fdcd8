"""Converters from each hub schema to canonical preference records (see `more_lib.data.records`).

Each `convert_<kind>(name, spec, seed)` returns `{"train": SplitResult, "test": SplitResult}` with
`SplitResult = {"rows_read": int, "records": [record, ...], "dropped": Counter(reason -> count)}`.
Rows that carry no usable preference are skipped and counted in `dropped`; malformed rows raise a
DataError naming the source, the hub split and the row. Empty or identical responses are left to
`data.keep_informative`, except where a converter samples (summ test), which must count them first.
One module per hub schema; `CONVERTERS` maps a source's `kind` to its converter.
"""

from more_lib.data.converters.common import DEFAULT_SPLITS, load_split
from more_lib.data.converters.hh import HH_ASSISTANT, HH_HUMAN, convert_hh, split_hh
from more_lib.data.converters.oasst1 import convert_oasst1
from more_lib.data.converters.summ import SUMM_PROMPT, convert_summ
from more_lib.data.converters.webgpt import WEBGPT_PROMPT, convert_webgpt

__all__ = ["CONVERTERS", "DEFAULT_SPLITS", "HH_ASSISTANT", "HH_HUMAN", "SUMM_PROMPT", "WEBGPT_PROMPT", "convert_hh",
           "convert_oasst1", "convert_summ", "convert_webgpt", "load_split", "split_hh"]

CONVERTERS = {"hh": convert_hh, "oasst1": convert_oasst1, "webgpt": convert_webgpt, "summ": convert_summ}
