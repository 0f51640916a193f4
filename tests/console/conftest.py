"""A real worker with authentication on, and headless Chromium driven through chromedriver,
for the console's browser tests. Run by dev/console-test; the services must be up and
`dev/services env` exported."""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from base64 import b64encode
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REPO = Path(__file__).resolve().parents[2]
LIBRARIES = ["libsequence_connector.so", "libferry_mqtt_source.so", "libferry_test_panicking_source.so",
             "libferry_test_file_sink.so"]
USERS = {"admin": ("admin-secret", "admin"), "viewer": ("viewer-secret", "viewer")}
SCREENSHOTS = REPO / "target" / "console-screenshots"


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run `dev/services up` and `eval \"$(dev/services env)\"`", 2)
    return value


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Worker:
    def __init__(self, directory, mode="standalone", extra="", offsets_topic=None):
        directory.mkdir(parents=True, exist_ok=True)
        binary = Path(os.environ.get("FERRY_BIN", REPO / "target" / "debug" / "ferry"))
        libraries = Path(os.environ.get("FERRY_LIB_DIR", REPO / "target" / "debug"))
        plugins = directory / "plugins"
        plugins.mkdir()
        for library in LIBRARIES:
            (plugins / library).symlink_to(libraries / library)
        users = ["users:"]
        for user, (password, role) in USERS.items():
            hashed = subprocess.run([binary, "hash-password"], input=password.encode(),
                                    capture_output=True, check=True).stdout.decode().strip()
            users.append(f'  {user}: {{role: {role}, password: "{hashed}"}}')
        (directory / "users.yaml").write_text("\n".join(users) + "\n")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (directory / "worker.yaml").write_text(
            f"bootstrap.servers: {env('FERRY_KAFKA_BOOTSTRAP')}\n"
            f"plugin.path: {plugins}\n"
            f"listeners: {self.url}\n"
            f"offset.storage.topic: {offsets_topic or 'console-offsets-' + uuid.uuid4().hex[:8]}\n"
            "offset.storage.partitions: 1\n"
            f"state.dir: {directory / 'state'}\n"
            f"rest.auth.users.file: {directory / 'users.yaml'}\n"
            "offset.flush.interval.ms: 500\n"
            "task.shutdown.graceful.timeout.ms: 2000\n"
            "task.restart.enabled: false\n" + extra)
        self.log = directory / "worker.log"
        self.command = [binary, mode, directory / "worker.yaml"]
        self.start()

    def start(self):
        """Starts the worker process and waits until it answers."""
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL,
                                        stderr=self.log.open("a"))
        deadline = time.monotonic() + 60
        while True:
            try:
                self.call("GET", "/")
                return
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not serve {self.url} within 60 s:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.2)

    def call(self, method, path, body=None, user="admin"):
        password = USERS[user][0]
        request = urllib.request.Request(self.url + path, method=method,
                                         data=None if body is None else json.dumps(body).encode())
        request.add_header("Authorization", "Basic " + b64encode(f"{user}:{password}".encode()).decode())
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return json.loads(text) if text else None

    def kill(self):
        self.process.kill()
        self.process.wait(timeout=20)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="session")
def worker():
    with tempfile.TemporaryDirectory() as directory:
        running = Worker(Path(directory))
        yield running
        running.stop()


@pytest.fixture
def lone_worker():
    """A worker of the test's own, which the test may kill and start again."""
    with tempfile.TemporaryDirectory() as directory:
        running = Worker(Path(directory))
        yield running
        running.stop()


@pytest.fixture(scope="session")
def cluster():
    """Two distributed workers of one group."""
    group = f"console-{uuid.uuid4().hex[:8]}"
    extra = (f"group.id: {group}\nconfig.storage.topic: {group}-configs\n"
             f"status.storage.topic: {group}-status\nsession.timeout.ms: 6000\nheartbeat.interval.ms: 1000\n")
    with tempfile.TemporaryDirectory() as directory:
        workers = []
        try:
            for index in range(2):
                workers.append(Worker(Path(directory) / f"w{index}", "distributed", extra, f"{group}-offsets"))
            yield workers
        finally:
            for running in workers:
                running.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.failed_call = report.failed


@pytest.fixture
def browser(request):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("FERRY_CHROMIUM", "/usr/bin/chromium")
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", "--lang=en"]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(os.environ.get("FERRY_CHROMEDRIVER", "/usr/bin/chromedriver")),
                              options=options)
    driver.set_page_load_timeout(30)
    yield driver
    if getattr(request.node, "failed_call", False):
        # What the page showed when the test failed, for the report.
        screenshot(driver, f"failed-{request.node.name}")
        print(f"--- page text at the failure:\n{driver.execute_script('return document.body.innerText')}")
    driver.quit()


def screenshot(driver, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
