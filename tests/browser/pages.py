"""What the browser tests do on a page: log in, take a whole-page screenshot."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

TIMEOUT = 20


def wait_for(browser: WebDriver, css: str, *, timeout: float = TIMEOUT):
    return WebDriverWait(browser, timeout).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def log_in(browser: WebDriver, *, base_url: str, username: str, password: str) -> None:
    """Through admin's login form, as staff do."""
    browser.get(f"{base_url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for(browser, "#site-name")


def screenshot(browser: WebDriver, path: Path) -> Path:
    """The whole page, not only the window: the window grows to the page's height first."""
    width = browser.get_window_size()["width"]
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, max(height + 120, 600))
    browser.save_screenshot(str(path))
    return path
