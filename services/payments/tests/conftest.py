pytest_plugins = ["common.pytest_plugin"]
