"""The Kubernetes backend: the SparkManager's edge to an API server running the kubeflow spark-operator."""
