"""A chart read into data: type, axes, series of points, and which values were printed rather than estimated."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .invoice import Number, Record

__all__ = ["Axis", "Chart", "Point", "Series"]

ChartType = Literal["bar", "column", "line", "area", "pie", "donut", "scatter", "histogram", "box", "heatmap",
                    "other"]


class Axis(Record):
    label: str | None = Field(None, max_length=60, description="The axis title as printed.")
    unit: str | None = Field(None, max_length=16, description="The unit: %, USD, ms, °C, ...")
    min: Number = Field(None, description="The lowest value marked on the axis.")
    max: Number = Field(None, description="The highest value marked on the axis.")


class Point(Record):
    x: str = Field(..., max_length=40, description="The category or x value, as printed.")
    y: Number = Field(None, description="The value, as a plain number.")
    printed: bool = Field(False, description="True only when this value is printed on the chart as a number.")


class Series(Record):
    name: str | None = Field(None, max_length=60, description="The series name from the legend.")
    points: list[Point] = Field(default_factory=list, max_length=24)


class Chart(Record):
    """One chart: what kind, what it measures, its data, and the trend."""

    chart_type: ChartType = Field(..., description="The kind of chart.")
    title: str | None = Field(None, max_length=120, description="The title as printed.")
    x_axis: Axis | None = None
    y_axis: Axis | None = None
    series: list[Series] = Field(default_factory=list, max_length=8)
    trend: str | None = Field(None, max_length=400, description="The trend in words.")
