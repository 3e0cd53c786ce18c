import json

import numpy as np
import numpy.testing  # imports numpy._core.tests._natype on numpy 2.2+
import scipy
import sklearn
from scipy import stats
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

_iris = load_iris()
_model = LogisticRegression(max_iter=500).fit(_iris.data, _iris.target)


def handler(event, context):
    body = event.get("body") if isinstance(event, dict) and "body" in event else None
    request = json.loads(body) if body else event
    features = np.array(request["features"], dtype=float).reshape(1, -1)
    label = int(_model.predict(features)[0])
    answer = {
        "label": label,
        "species": str(_iris.target_names[label]),
        "zscore": float(stats.zscore([1.0, 2.0, 3.0])[0]),
        "versions": {
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "sklearn": sklearn.__version__,
        },
        "testing": numpy.testing.__name__,
    }
    return {"statusCode": 200, "body": json.dumps(answer)} if body is not None else answer
