"""Status URL templates render the seed's documented syntax against the real SparkApplication."""

from __future__ import annotations

from spark_gateway.domain.urls import render

APP = {
    "metadata": {"name": "c1-ns-abc", "namespace": "spark", "labels": {"team": "data"}},
    "spec": {"type": "Python"},
    "status": {
        "sparkApplicationId": "spark-123",
        "driverInfo": {"webUIIngressAddress": "http://ui.example/c1-ns-abc"},
        "applicationState": {"state": "RUNNING"},
    },
}


def test_seed_templates_render() -> None:
    assert render("{{.Status.DriverInfo.WebUIIngressAddress}}", APP) == "http://ui.example/c1-ns-abc"
    assert (
        render("https://history/{{.ObjectMeta.Namespace}}/{{.Status.SparkApplicationID}}", APP)
        == "https://history/spark/spark-123"
    )
    assert render("https://logs/{{.Name}}?ns={{.Namespace}}", APP) == "https://logs/c1-ns-abc?ns=spark"
    assert render('{{index .ObjectMeta.Labels "team"}}', APP) == "data"
    assert render("{{.Status.AppState.State}}", APP) == "RUNNING"


def test_missing_values_give_no_url_rather_than_a_broken_one() -> None:
    assert render("https://history/{{.Status.SparkApplicationID}}", {"metadata": {}}) is None
    assert render("", APP) is None
