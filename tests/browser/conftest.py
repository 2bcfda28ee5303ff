"""Fixtures for the browser tests: headless Chromium (Playwright, sync API) against `live_server`.

Playwright's sync API keeps an event loop running in the test thread, which Django takes as an
async context and then refuses ORM calls from the test; the tests do their database work
synchronously, so that guard is switched off for them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from curation.models import Project, Role
from tests.factories import MembershipFactory, ProjectFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PASSWORD = "pw-for-tests"  # tests/factories.py UserFactory
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
TIMEOUT_MS = 10_000
# Assertions wait as long as actions do: on a loaded CI machine a swap can take over the default 5 s.
expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Crew:
    """A classification project with an annotator and two reviewers, all able to log in."""

    project: Project
    annotator: User
    reviewer: User
    second_reviewer: User


@pytest.fixture
def crew(transactional_db: None) -> Crew:
    project = ProjectFactory.create()

    def member(role: str) -> User:
        return MembershipFactory.create(project=project, role=role).user

    return Crew(
        project=project,
        annotator=member(Role.ANNOTATOR),
        reviewer=member(Role.REVIEWER),
        second_reviewer=member(Role.REVIEWER),
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def console_errors_expected() -> list[str]:
    """Text of console errors a test causes on purpose (a refused request it provokes); others fail it."""
    return []


@pytest.fixture
def new_page(
    browser: Browser, live_server: LiveServer, console_errors_expected: list[str]
) -> Iterator[Callable[[], Page]]:
    """Opens a page in a fresh browser context (its own cookies: one person each).

    Uncaught JavaScript errors and console errors (a script that fails to load, say) fail the test.
    """
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def open_page() -> Page:
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda message: console_problem(message, problems))
        return page

    yield open_page
    for context in contexts:
        context.close()
    unexpected = [p for p in problems if not any(text in p for text in console_errors_expected)]
    assert not unexpected, unexpected


def console_problem(message: ConsoleMessage, problems: list[str]) -> None:
    # The browser asks for /favicon.ico by itself; the app has none, which is no page's fault.
    if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
        problems.append(f"console error: {message.text} ({message.location.get('url', '')})")


@pytest.fixture
def log_in(new_page: Callable[[], Page]) -> Callable[[User], Page]:
    """A fresh page on which the user has logged in through the login form."""

    def as_user(user: User) -> Page:
        page = new_page()
        page.goto("/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Projects").wait_for()
        return page

    return as_user


@pytest.fixture(scope="session")
def screenshot() -> Callable[[Page, str], Path]:
    """Saves a full-page PNG under test-output/screenshots/ (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


WIDTHS = (1280, 1024)


def assert_fits(page: Page, name: str, screenshot: Callable[[Page, str], object]) -> None:
    """The page fits 1280 and 1024 px without sideways scrolling; a screenshot `<name>-<width>` at each."""
    # A click that navigates returns before the new document exists; measuring then reads null.
    page.wait_for_load_state("load")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, f"{name} scrolls sideways at {width} px"
        screenshot(page, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})
