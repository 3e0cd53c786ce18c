# the app on uvloop (run.sh: --loop uvloop): its version fails to publish, so what it does is
# never reached
from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz():
    return {"ok": True}
