"""The audit's thresholds in one place: sample sizes, and the figures that make a finding
high, medium or low. Every check reads its limits from here, so tuning the audit means
reading one page."""


#: Rows the model-based checks (leakage) read at most: a sample keeps the audit cheap.
MODEL_ROWS = 20_000
#: Rows the column statistics read at most (larger tables are sampled, and messages say so).
STATS_ROWS = 200_000
#: Fewer rows than this and values are distinct by chance: no identifier or leakage verdicts.
MIN_ROWS = 20
#: Held-out score of a one-feature model that is near-perfect (high) or suspicious (medium).
LEAK_AUC = (0.99, 0.97)
LEAK_R2 = (0.98, 0.95)
#: Correlation with a numeric target that makes a feature a near-copy of it.
COPY_CORRELATION = 0.99
#: Share of rows holding one value that makes a column near-constant.
NEAR_CONSTANT = 0.995
#: Share of missing values that is medium, and high.
MISSING = (0.5, 0.9)
#: Smallest class over largest class below which imbalance is medium (5 % of two classes),
#: and high (1 %); and the fewest rows a class needs to be learned and validated.
IMBALANCE = (1 / 19, 1 / 99)
MIN_CLASS_ROWS = 10
#: Distinct values (share of rows, or a count) that make a category column high-cardinality.
HIGH_CARDINALITY = (0.5, 1000)
#: Distinct share of present values that makes a column an identifier.
ID_DISTINCT = 0.99
#: Free text: at least this many words per value on average (not an identifier).
TEXT_WORDS = 3.0
#: Target outliers lie beyond this many interquartile ranges outside the middle half.
OUTLIER_IQR = 3.0
#: Share of rows that makes duplicates (or shared rows, or outliers) worth a medium finding.
NOTABLE_SHARE = 0.01
#: Findings of one check and severity beyond this many are grouped into one.
MAX_LISTED = 10
#: Profile: quantile bins of numbers, and the category values kept.
PROFILE_BINS = 10
PROFILE_VALUES = 20
#: Population stability index that is medium, and high, drift.
PSI_LEVELS = (0.1, 0.25)
#: A shift counts only when chance would exceed it less than once in a thousand times.
DRIFT_Z = 3.09
#: Change of the missing share that is medium, and high, drift.
MISSING_DRIFT = (0.05, 0.2)
