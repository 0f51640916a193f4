"""The web console in a real browser against a real worker: what an operator and a viewer see
and can do, checked through the page itself."""

import os
import uuid

from conftest import USERS, screenshot
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT_S = 30


def wait(driver, what, condition):
    """Waits for `condition(driver)` to be truthy, failing with what it waited for."""
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(
        lambda d: condition(d), message=f"not within {WAIT_S} s: {what}")


def text_of(driver, css):
    """The text of the first element matching `css`, read in one step in the page (the console
    re-renders what changed under it)."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css)


def sign_in(driver, worker, user):
    driver.get(worker.url + "/ui")
    wait(driver, "the sign-in form", lambda d: d.find_elements(By.ID, "login-user"))
    driver.find_element(By.ID, "login-user").send_keys(user)
    driver.find_element(By.ID, "login-password").send_keys(USERS[user][0])
    driver.find_element(By.ID, "login-submit").click()
    wait(driver, f"signed in as {user}", lambda d: f"{user} (" in text_of(d, "#whoami"))


def connector_state(driver):
    return text_of(driver, "#connector-state")


def click(driver, action):
    button = f'button[data-action="{action}"]'
    wait(driver, f"the {action} button", lambda d: d.find_elements(By.CSS_SELECTOR, button))
    driver.find_element(By.CSS_SELECTOR, button).click()


def test_an_operator_sees_a_connector_run_and_pauses_resumes_stops_resets_and_deletes_it(worker, browser):
    name = f"cars-{uuid.uuid4().hex[:6]}"
    worker.call("POST", "/connectors", {"name": name, "config": {
        "connector.class": "SequenceSource", "kafka.topic": f"console-{name}", "rate.per.second": "200"}})
    sign_in(browser, worker, "admin")
    row = f'tr[data-connector="{name}"]'
    wait(browser, f"{name} RUNNING in the overview", lambda d: "RUNNING" in text_of(d, row))
    # Records/s comes from two reads of /metrics; the sequence source writes 200 a second.
    wait(browser, f"{name}'s records/s above 0",
         lambda d: text_of(d, f"{row} td.rate") not in ("", "–", "0.0"))
    wait(browser, "the worker in the workers table",
         lambda d: f"{name}-0" in text_of(d, "#workers"))
    screenshot(browser, "overview")

    browser.find_element(By.LINK_TEXT, name).click()
    wait(browser, "the connector page", lambda d: connector_state(d) == "RUNNING")
    wait(browser, "task 0 RUNNING", lambda d: "RUNNING" in text_of(d, 'tr[data-task="0"]'))
    screenshot(browser, "connector")
    click(browser, "Pause")
    wait(browser, "PAUSED after Pause", lambda d: connector_state(d) == "PAUSED")
    assert "Pause: done" in text_of(browser, "#feedback")
    click(browser, "Resume")
    wait(browser, "RUNNING after Resume", lambda d: connector_state(d) == "RUNNING")
    click(browser, "Stop")
    wait(browser, "STOPPED after Stop", lambda d: connector_state(d) == "STOPPED")
    click(browser, "Reset offsets")
    browser.switch_to.alert.accept()
    wait(browser, "the reset confirmed", lambda d: "Reset offsets: done" in text_of(d, "#feedback"))
    assert worker.call("GET", f"/connectors/{name}/offsets") == {"offsets": []}
    click(browser, "Delete")
    browser.switch_to.alert.accept()
    wait(browser, "back on the overview without it",
         lambda d: d.current_url.endswith("#/") and not d.find_elements(By.CSS_SELECTOR, row))
    assert name not in worker.call("GET", "/connectors")


def test_a_viewer_sees_no_action_and_no_secret(worker, browser):
    name = f"guarded-{uuid.uuid4().hex[:6]}"
    secret = os.environ["FERRY_MQTT_PASSWORD"]
    worker.call("POST", "/connectors", {"name": name, "config": {
        "connector.class": "MqttSource",
        "mqtt.server.uri": f"tcp://127.0.0.1:{os.environ['FERRY_MQTT_AUTH_PORT']}",
        "mqtt.topics": f"console/{name}/#", "mqtt.qos": "1",
        "mqtt.username": os.environ["FERRY_MQTT_USERNAME"], "mqtt.password": secret,
        "kafka.topic": f"console-{name}"}})
    sign_in(browser, worker, "viewer")
    wait(browser, f"{name} in the overview", lambda d: d.find_elements(By.LINK_TEXT, name))
    browser.find_element(By.LINK_TEXT, name).click()
    wait(browser, "the connector page with its config",
         lambda d: "mqtt.password" in text_of(d, "#config"))
    assert "[hidden]" in text_of(browser, "#config")
    assert secret not in browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, "button[data-action]") == []
    worker.call("DELETE", f"/connectors/{name}")
