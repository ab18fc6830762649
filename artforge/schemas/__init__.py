"""Parameter schemas shared by the backend plugins, so that a recipe switches backend by one
value: the torch and keras plugins register the same step names with these schemas."""
