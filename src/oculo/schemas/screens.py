"""What a screenshot shows, and a bug report written from one.

Fields and lists are bounded so a grammar always ends; the strings inside lists are not, because xgrammar
did not hold a maxLength there and a verbatim error message must not be cut.
"""

from __future__ import annotations

from pydantic import Field

from .invoice import Record

__all__ = ["BugReport", "ScreenReading"]



class ScreenReading(Record):
    """A screenshot read: where it is, what is on it, its errors word for word, and what to do about them."""

    application: str | None = Field(None, max_length=120, description="The application, site or system shown.")
    screen: str = Field(..., max_length=600, description="What is on the screen, in a few sentences.")
    error_text: list[str] = Field(default_factory=list, max_length=8,
                                      description="Every error, warning or status message, copied exactly.")
    likely_cause: str | None = Field(None, max_length=500, description="The most likely cause of the problem.")
    fix: str | None = Field(None, max_length=600, description="A concrete way to fix it.")


class BugReport(Record):
    """A bug report as an issue tracker wants it, from what a screenshot shows."""

    title: str = Field(..., max_length=120, description="One line naming the problem.")
    summary: str = Field(..., max_length=600, description="What went wrong.")
    steps_to_reproduce: list[str] = Field(default_factory=list, max_length=10,
                                          description="What the user most likely did, one step each.")
    expected: str | None = Field(None, max_length=300, description="What should have happened.")
    actual: str | None = Field(None, max_length=300, description="What happened instead.")
    environment: list[str] = Field(default_factory=list, max_length=8,
                                   description="Clues to the environment: OS, browser, app and version, language.")
    error_text: list[str] = Field(default_factory=list, max_length=8,
                                      description="Every error message on the screen, copied exactly.")
