# The name every samverkan flow is deployed under: "<flow name>/samverkan".
DEPLOYMENT = "samverkan"
