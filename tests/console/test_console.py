"""The web console in a real browser against a real worker: what an operator and a viewer see
and can do, checked through the page itself."""

import json
import os
import subprocess
import threading
import uuid

from conftest import USERS, screenshot
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

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


def shows_a_figure(text):
    """A records/s figure above 0 (not '–' or '0.0')."""
    return text not in ("", "–", "0.0")


def plotted(driver, css):
    """How many points the first polyline matching `css` draws."""
    return driver.execute_script(
        "const line = document.querySelector(arguments[0]);"
        "const points = line ? line.getAttribute('points').trim() : '';"
        "return points ? points.split(' ').length : 0;", css)


def type_into(driver, element_id, text):
    element = driver.find_element(By.ID, element_id)
    element.clear()
    element.send_keys(text)


def test_an_operator_sees_a_connector_run_and_pauses_resumes_stops_alters_resets_and_deletes_it(
        worker, browser, tmp_path):
    name = f"cars-{uuid.uuid4().hex[:6]}"
    topic = f"console-{name}"
    worker.call("POST", "/connectors", {"name": name, "config": {
        "connector.class": "SequenceSource", "kafka.topic": topic, "rate.per.second": "200"}})
    sink = f"archive-{uuid.uuid4().hex[:6]}"
    worker.call("POST", "/connectors", {"name": sink, "config": {
        "connector.class": "FileSink", "topics": topic, "output.file": str(tmp_path / "sink.jsonl"),
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter"}})
    sign_in(browser, worker, "admin")
    row = f'tr[data-connector="{name}"]'
    wait(browser, f"{name} RUNNING in the overview", lambda d: "RUNNING" in text_of(d, row))
    # Records/s come from two reads of the connector's activity; the source writes 200 a second.
    wait(browser, f"{name}'s records/s in and out above 0",
         lambda d: shows_a_figure(text_of(d, f"{row} td.rate-in")) and shows_a_figure(text_of(d, f"{row} td.rate-out")))
    version = worker.call("GET", f"/connectors/{name}/activity")["plugin_version"]
    assert version, "the activity names the plugin's version"
    assert text_of(browser, f"{row} td.plugin") == f"SequenceSource {version}"
    sink_row = f'tr[data-connector="{sink}"]'
    wait(browser, f"the sink {sink}'s lag, a count of records",
         lambda d: text_of(d, f"{sink_row} td.lag").isdigit())
    assert text_of(browser, f"{row} td.lag") == "–", "a source has no lag"
    wait(browser, "the worker in the workers table",
         lambda d: f"{name}-0" in text_of(d, "#workers"))
    wait(browser, "a few points in the sparkline, for the screenshot",
         lambda d: plotted(d, f"{row} td.spark polyline") >= 6)
    screenshot(browser, "overview")
    worker.call("DELETE", f"/connectors/{sink}")

    browser.find_element(By.LINK_TEXT, name).click()
    wait(browser, "the connector page", lambda d: connector_state(d) == "RUNNING")
    wait(browser, "task 0 RUNNING", lambda d: "RUNNING" in text_of(d, 'tr[data-task="0"]'))
    # The plots: records/s out and the latency quantiles of the last interval.
    wait(browser, "records/s out in the throughput plot",
         lambda d: shows_a_figure(text_of(d, '#throughput [data-field="out"]')))
    wait(browser, "a p99 latency under the latency plot",
         lambda d: text_of(d, '#latency [data-field="p99"]').startswith("≤"))
    wait(browser, "a few points in each plot, for the screenshot",
         lambda d: plotted(d, "#latency polyline") >= 6 and plotted(d, "#throughput polyline") >= 6)
    screenshot(browser, "connector")
    click(browser, "Pause")
    wait(browser, "PAUSED after Pause", lambda d: connector_state(d) == "PAUSED")
    assert "Pause: done" in text_of(browser, "#feedback")
    click(browser, "Resume")
    wait(browser, "RUNNING after Resume", lambda d: connector_state(d) == "RUNNING")
    click(browser, "Stop")
    wait(browser, "STOPPED after Stop", lambda d: connector_state(d) == "STOPPED")

    # Alter the offsets from the page: each partition's position moved to 4242.
    wait(browser, "the offsets editor of a STOPPED connector", lambda d: d.find_elements(By.ID, "offsets-edit"))
    committed = worker.call("GET", f"/connectors/{name}/offsets")["offsets"]
    assert committed, "the source committed offsets before it stopped"
    altered = {"offsets": [{"partition": o["partition"], "offset": {k: 4242 for k in o["offset"]}}
                           for o in committed]}
    type_into(browser, "offsets-edit", "{not json")
    click(browser, "Alter offsets")
    browser.switch_to.alert.accept()
    wait(browser, "the JSON error shown", lambda d: "Alter offsets: not JSON" in text_of(d, "#feedback"))
    type_into(browser, "offsets-edit", json.dumps(altered))
    click(browser, "Alter offsets")
    browser.switch_to.alert.accept()
    wait(browser, "the alteration confirmed", lambda d: "Alter offsets: done" in text_of(d, "#feedback"))
    wait(browser, "the altered offset in the table", lambda d: "4242" in text_of(d, "#offsets"))
    assert worker.call("GET", f"/connectors/{name}/offsets") == altered

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


def fill(driver, key, value):
    field = driver.find_element(By.ID, f"field-{key}")
    field.clear()
    field.send_keys(value)


def test_an_mqtt_source_created_from_the_form_shows_errors_by_their_field_and_then_runs(worker, browser):
    name = f"fleet-{uuid.uuid4().hex[:6]}"
    prefix = f"console/{name}"
    sign_in(browser, worker, "admin")
    wait(browser, "the new-connector link", lambda d: d.find_elements(By.ID, "new-connector"))
    browser.find_element(By.ID, "new-connector").click()
    wait(browser, "the create form", lambda d: d.find_elements(By.ID, "connector-plugin"))
    browser.find_element(By.ID, "connector-name").send_keys(name)
    Select(browser.find_element(By.ID, "connector-plugin")).select_by_value("ferry.mqtt.MqttSourceConnector")
    wait(browser, "the plugin's fields", lambda d: d.find_elements(By.ID, "field-mqtt.qos"))
    fill(browser, "mqtt.server.uri", f"tcp://127.0.0.1:{os.environ['FERRY_MQTT_PORT']}")
    fill(browser, "mqtt.topics", f"{prefix}/#")
    fill(browser, "kafka.topic", f"console-{name}")
    fill(browser, "mqtt.qos", "7")
    wait(browser, "the error next to mqtt.qos", lambda d: text_of(d, '[id="error-mqtt.qos"]') != "")
    assert text_of(browser, '[id="error-mqtt.topics"]') == ""
    browser.find_element(By.ID, "create-submit").click()
    wait(browser, "the refusal", lambda d: "Fix the fields" in text_of(d, "#feedback"))
    fill(browser, "mqtt.qos", "1")
    wait(browser, "the mqtt.qos error gone", lambda d: text_of(d, '[id="error-mqtt.qos"]') == "")
    browser.find_element(By.ID, "create-submit").click()
    wait(browser, f"{name}'s page, RUNNING", lambda d: connector_state(d) == "RUNNING")

    # Messages published to the broker show as records/s on the page.
    stop = threading.Event()

    def publish():
        n = 0
        while not stop.is_set():
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", os.environ["FERRY_MQTT_PORT"],
                            "-q", "1", "-t", f"{prefix}/car-{n % 10}", "-m", f"reading {n}"],
                           check=False, timeout=10)
            n += 1

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    try:
        wait(browser, "records/s above 0 while messages are published",
             lambda d: shows_a_figure(text_of(d, f'[data-flow="{name}"][data-field="out"]')))
    finally:
        stop.set()
        publisher.join(timeout=15)
    worker.call("DELETE", f"/connectors/{name}")


def test_a_failed_task_shows_its_trace_and_restart_failed_tasks_runs_it_again(worker, browser):
    name = f"fragile-{uuid.uuid4().hex[:6]}"
    # About 10 s of records (10 ms a poll), then a panic: long enough to see it RUNNING again.
    worker.call("POST", "/connectors", {"name": name, "config": {
        "connector.class": "PanickingSource", "kafka.topic": f"console-{name}", "panic.after": "1000"}})
    sign_in(browser, worker, "admin")
    browser.get(f"{worker.url}/ui#/connectors/{name}")
    task = 'tr[data-task="0"]'
    WebDriverWait(browser, 60, poll_frequency=0.2).until(
        lambda d: "FAILED" in text_of(d, task), message="not within 60 s: task 0 FAILED")
    assert "boom: the panicking source gave up" in text_of(browser, f"{task} pre.trace")
    screenshot(browser, "failed-task")
    click(browser, "Restart failed tasks")
    wait(browser, "task 0 RUNNING again after Restart failed tasks",
         lambda d: "RUNNING" in text_of(d, task) and not d.find_elements(By.CSS_SELECTOR, f"{task} pre.trace"))
    assert "Restart failed tasks: done" in text_of(browser, "#feedback")
    wait(browser, "one restart and its time in the task's row",
         lambda d: text_of(d, f"{task} td.restarts") == "1" and text_of(d, f"{task} td.restarted-at") != "–")
    worker.call("DELETE", f"/connectors/{name}")


def test_editing_a_config_shows_the_changes_before_saving_them(worker, browser):
    name = f"edited-{uuid.uuid4().hex[:6]}"
    worker.call("POST", "/connectors", {"name": name, "config": {
        "connector.class": "SequenceSource", "kafka.topic": f"console-{name}", "rate.per.second": "5"}})
    sign_in(browser, worker, "admin")
    browser.get(f"{worker.url}/ui#/connectors/{name}")
    wait(browser, "the edit link", lambda d: d.find_elements(By.ID, "edit-connector"))
    browser.find_element(By.ID, "edit-connector").click()
    wait(browser, "the edit form", lambda d: d.find_elements(By.ID, "field-rate.per.second"))
    fill(browser, "rate.per.second", "7")
    browser.find_element(By.ID, "review").click()
    wait(browser, "the change listed", lambda d: "rate.per.second" in text_of(d, "#changes"))
    changes = text_of(browser, "#changes")
    assert "5" in changes and "7" in changes and "kafka.topic" not in changes, changes
    browser.find_element(By.ID, "save").click()
    wait(browser, "back on the connector page", lambda d: connector_state(d) != "")
    assert worker.call("GET", f"/connectors/{name}/config")["rate.per.second"] == "7"
    worker.call("DELETE", f"/connectors/{name}")


def test_the_overview_of_a_two_worker_cluster_shows_both_workers_and_their_tasks(cluster, browser):
    first, second = cluster
    name = f"spread-{uuid.uuid4().hex[:6]}"
    first.call("POST", "/connectors", {"name": name, "config": {
        "connector.class": "SequenceSource", "kafka.topic": f"console-{name}", "tasks.max": "2",
        "rate.per.second": "5"}})
    workers = {f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"}
    sign_in(browser, second, "admin")

    def spread(driver):
        rows = driver.execute_script(
            "return [...document.querySelectorAll('#workers tr[data-worker]')]"
            ".map(r => [r.dataset.worker, r.cells[1].innerText]);")
        tasks = {worker: text for worker, text in rows}
        return set(tasks) == workers and all(f"{name}-" in text for text in tasks.values())

    WebDriverWait(browser, 90, poll_frequency=0.5).until(
        spread, message="not within 90 s: both workers listed, each running a task of the connector")
    wait(browser, "both tasks RUNNING",
         lambda d: "2 running" in text_of(d, f'tr[data-connector="{name}"]'))
    assert "Distributed: 2 workers" in text_of(browser, "#cluster")
    screenshot(browser, "cluster")
    # Each task's records/s, whichever worker runs it: the other's figures come through the
    # status topic every 5 s.
    browser.find_element(By.LINK_TEXT, name).click()
    for task in (0, 1):
        cell = f'tr[data-task="{task}"] [data-field="out"]'
        WebDriverWait(browser, 60, poll_frequency=0.5).until(
            lambda d: shows_a_figure(text_of(d, cell)),
            message=f"not within 60 s: records/s of task {task} on the connector page")
    first.call("DELETE", f"/connectors/{name}")


def test_a_lost_worker_is_shown_and_the_page_recovers_when_it_is_back(lone_worker, browser):
    sign_in(browser, lone_worker, "admin")
    # A fresh load, signed in: how long until the first page is usable (reported, not asserted:
    # figures belong to benchmarks).
    browser.get(lone_worker.url + "/ui")
    wait(browser, "the overview", lambda d: "Connectors" in text_of(d, "main h1"))
    usable_ms = wait(browser, "the first render's time",
                     lambda d: d.execute_script("return window.ferryFirstRender"))
    print(f"console: first page usable {usable_ms:.0f} ms after navigation started")
    lone_worker.kill()
    wait(browser, "the lost-connection banner", lambda d: "Connection to the worker lost" in text_of(d, "#connection"))
    lone_worker.start()
    wait(browser, "the banner gone once the worker is back", lambda d: text_of(d, "#connection") == "")
    wait(browser, "the overview again", lambda d: "Connectors" in text_of(d, "main h1"))
