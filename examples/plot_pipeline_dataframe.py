"""
=====================================================
A Pipeline on a pandas DataFrame with a DatetimeIndex
=====================================================

Sensor data usually arrive as a :class:`pandas.DataFrame` indexed by time,
with holes where a sensor was down. :class:`~sklvar.VariationalImputer` is a
scikit-learn transformer: it goes into a :class:`~sklearn.pipeline.Pipeline`,
and with ``set_output(transform="pandas")`` it returns a DataFrame with the
same index and column names.
"""

# %%
# Hourly readings with outages
# ----------------------------
# Three correlated sensors over 60 days: a daily cycle, a slow trend and
# noise. Each sensor is down for a few stretches of 6 to 24 hours.
import numpy as np
import pandas as pd

rng = np.random.RandomState(0)
index = pd.date_range("2024-03-01", periods=24 * 60, freq="h", name="time")
hours = np.arange(len(index))
daily = np.sin(2 * np.pi * hours / 24)
trend = np.cumsum(rng.normal(scale=0.05, size=len(index)))
readings = pd.DataFrame(
    {
        "temperature": 15 + 6 * daily + trend + rng.normal(scale=0.3, size=len(index)),
        "humidity": 60 - 15 * daily - 2 * trend
        + rng.normal(scale=1.0, size=len(index)),
        "power": 3 + 1.5 * np.roll(daily, 3) + 0.3 * trend
        + rng.normal(scale=0.1, size=len(index)),
    },
    index=index,
)
gappy = readings.copy()
for column in gappy.columns:
    for _ in range(12):
        start, length = rng.randint(0, len(index) - 24), rng.randint(6, 25)
        gappy.iloc[start:start + length, gappy.columns.get_loc(column)] = np.nan
print(gappy.isna().mean().round(3))

# %%
# A Pipeline that imputes, then scales
# ------------------------------------
# Rows are time steps, so the imputer works on windows of 48 hours
# (``window=48``). The prior is the two-scale CNN along time, trained
# without ground truth on the gappy frame itself.
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklvar import VariationalImputer

pipeline = make_pipeline(
    VariationalImputer(prior="cnn", solver="lstm", window=48, stride=12,
                       max_epochs=15, batch_size=32, lr=3e-3, random_state=0),
    StandardScaler(),
).set_output(transform="pandas")
scaled = pipeline.fit_transform(gappy)
print(type(scaled).__name__, scaled.index.equals(gappy.index), list(scaled.columns))

# %%
# The imputer alone, inside the fitted pipeline, gives the filled frame in
# the original units.
imputer = pipeline.named_steps["variationalimputer"]
filled = imputer.transform(gappy)
print(filled.loc["2024-03-10"].head())

# %%
# The error on the gaps, per sensor and divided by the sensor's variance,
# next to interpolation in time (pandas).
linear = gappy.interpolate(method="time", limit_direction="both")


def gap_error(frame):
    return ((frame - readings) ** 2)[gappy.isna()].mean() / readings.var()


print(pd.DataFrame({"VariationalImputer": gap_error(filled),
                    "time interpolation": gap_error(linear)}).round(3))

# %%
# Ten days of the result (the DatetimeIndex is the time axis).
from sklvar.plotting import plot_series

week = slice("2024-03-05", "2024-03-14")
fig = plot_series(gappy.loc[week], filled.loc[week], readings.loc[week],
                  others={"time interpolation": linear.loc[week]})
