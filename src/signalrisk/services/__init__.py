"""The facade shared by the API and the CLI: the analysis workflow, costs and charts."""
