"""Labels of the web UI in Korean (the default, as in the K-MELLODDY guide) and English."""

from __future__ import annotations

LANGUAGES = ("ko", "en")
DEFAULT_LANGUAGE = "ko"

# key -> (Korean, English)
LABELS: dict[str, tuple[str, str]] = {
    "app.title": ("FDD 연합학습 플랫폼", "FDD federated learning platform"),
    "nav.data": ("데이터 정보", "Data information"),
    "nav.models": ("AI Model 관리", "AI models"),
    "nav.jobs": ("연합학습 작업 관리", "Federated jobs"),
    "nav.signout": ("로그아웃", "Sign out"),
    "nav.admin": ("관리자", "admin"),
    "lang.switch": ("English", "한국어"),
    # sign-in
    "signin.title": ("로그인", "Sign in"),
    "signin.user": ("사용자 이름", "User name"),
    "signin.password": ("비밀번호", "Password"),
    "signin.submit": ("로그인", "Sign in"),
    "signin.failed": ("사용자 이름 또는 비밀번호가 올바르지 않습니다", "Wrong user name or password"),
    "signin.no_users": (
        "아직 계정이 없습니다. 서버에서 `fdd users add 이름 --admin` 으로 계정을 만드세요",
        "No accounts yet: create one on the server with `fdd users add NAME --admin`",
    ),
    "signin.required": ("로그인이 필요합니다", "Please sign in"),
    # common
    "common.owner": ("소유자", "Owner"),
    "common.created": ("등록 시간", "Created"),
    "common.updated": ("수정 시간", "Updated"),
    "common.description": ("설명", "Description"),
    "common.actions": ("관리", "Actions"),
    "common.edit": ("수정", "Edit"),
    "common.delete": ("삭제", "Delete"),
    "common.save": ("저장", "Save"),
    "common.cancel": ("취소", "Cancel"),
    "common.confirm": ("확인", "Confirm"),
    "common.close": ("닫기", "Close"),
    "common.none": ("없음", "none"),
    "common.new": ("신규등록", "New"),
    "common.forbidden": ("권한이 없습니다", "Not allowed"),
    "common.error": ("오류", "Error"),
    "common.back": ("돌아가기", "Back"),
    # data information
    "data.title": ("데이터 정보", "Data information"),
    "data.intro": (
        "연합학습에 사용할 데이터의 통계정보를 확인하는 페이지입니다",
        "Statistics of the data available for federated learning",
    ),
    "data.institution": ("기관 선택", "Institution"),
    "data.test": ("실험 데이터 항목", "Test"),
    "data.all_tests": ("전체", "All tests"),
    "data.level": ("Level 설정", "Level"),
    "data.level1": ("Level 1 : Test", "Level 1: Test"),
    "data.level2": ("Level 2 : Test Type", "Level 2: Test Type"),
    "data.level3": ("Level 3 : Measurement Type", "Level 3: Measurement Type"),
    "data.level4": ("Level 4 : Test Subject", "Level 4: Test Subject"),
    "data.item": ("항목", "Item"),
    "data.count": ("데이터 수", "Count"),
    "data.censored": ("부등호 값 수", "Censored"),
    "data.censored_help": (
        "측정 관계가 <, >, <=, >= 인 값의 수 (평균, 최소, 최대, 중앙값에서 제외)",
        "Values given as <, >, <= or >= (left out of the mean, min, max and median)",
    ),
    "data.too_few": (
        "값이 기관의 최소 집계 단위보다 적어 통계를 표시하지 않습니다",
        "Fewer values than the site's minimum cell size: no statistics shown",
    ),
    "data.mean": ("평균", "Mean"),
    "data.min": ("최소", "Min"),
    "data.max": ("최대", "Max"),
    "data.median": ("중앙값", "Median"),
    "data.computed": ("집계 시간", "Computed"),
    "data.empty": (
        "아직 통계정보가 없습니다 — 각 기관에서 `fdd data refresh` 를 실행하세요",
        "No statistics yet — run `fdd data refresh` at each institution",
    ),
    "data.unknown": ("(없음)", "(none)"),
    "data.bucket_note": (
        "데이터 수는 0개, 100개 이하, 100~1000개, 1000개 이상 4가지 범주로만 표시합니다",
        "Counts are shown only as four buckets: 0, ≤100, 100–1000, >1000",
    ),
    # models
    "models.title": ("AI Model 관리", "AI models"),
    "models.intro": (
        "연합학습에 사용할 모델과 학습용 코드파일을 관리하는 페이지입니다",
        "Models and training code for federated learning",
    ),
    "models.name": ("AI 모델명", "AI model"),
    "models.class": ("모델 클래스 이름", "Model class name"),
    "models.class_help": (
        "model.py에 작성된 학습할 모델 클래스 명 (PyTorch nn.Module)",
        "The nn.Module class in model.py the platform trains",
    ),
    "models.version": ("버전", "Version"),
    "models.version_help": ("클래스명 + 버전은 전체 사용자에서 유일해야 합니다", "Class + version must be new across all users"),
    "models.summary": ("학습 개요", "Description"),
    "models.files": ("파일", "Files"),
    "models.drop": (
        "학습할 파일을 여기에 끌어다 놓거나 클릭하여 선택하세요 "
        "(model.py, data.py, train_eval.py, requirements.txt, config.yaml, 가중치, 또는 .zip)",
        "Drop the bundle's files here or click to choose them "
        "(model.py, data.py, train_eval.py, requirements.txt, config.yaml, weights, or a .zip)",
    ),
    "models.edit_files": ("새 파일을 올리면 모든 파일이 교체됩니다 (선택)", "Uploading files replaces all of them (optional)"),
    "models.register": ("모델 등록", "Register model"),
    "jobs.algorithm": ("집계 알고리즘", "Algorithm"),
    "jobs.algorithm_help": (
        "FedProx와 SCAFFOLD는 번들의 controller_manager (FLFedProx, FLScaffold)를 사용합니다.",
        "FedProx and SCAFFOLD use the bundle's controller_manager (FLFedProx, FLScaffold).",
    ),
    "jobs.fedprox_mu": ("FedProx μ", "FedProx μ"),
    "algorithm.fedavg": ("FedAvg (표본 가중 평균)", "FedAvg (sample-weighted)"),
    "algorithm.fedprox": ("FedProx", "FedProx"),
    "algorithm.scaffold": ("SCAFFOLD", "SCAFFOLD"),
    "job.shared_with": ("공유 대상", "Shared with"),
    "job.share_with": ("읽기 전용으로 공유할 사용자", "Share read-only with"),
    "job.share": ("공유", "Share"),
    "job.unsandboxed": (
        "샌드박스 없이 사용자 코드를 실행한 기관 (기관이 샌드박스를 껐습니다)",
        "Sites that ran the user code without the sandbox (the site turned it off)",
    ),
    "models.metric_names": ("추가 metric 이름 (선택)", "Extra metric names (optional)"),
    "models.metric_names_help": (
        "evaluate()가 반환하는 이름 중 일반 이름(rmse, r2, accuracy, eval_loss …)도, evaluate()의 dict에 그대로 쓴 키도 아닌 것. "
        "실행 전에 알려진 이름만 기관 밖으로 나갑니다.",
        "Names evaluate() returns that are neither common ones (rmse, r2, accuracy, eval_loss …) nor literal keys of its "
        "dict. Only names known before a run leave a site.",
    ),
    "models.edit_title": ("모델 수정", "Edit model"),
    "models.new_title": ("신규 모델 등록", "Register a model"),
    "models.delete_confirm": (
        "이 모델을 삭제하시겠습니까? 삭제 후 복구가 불가능합니다.",
        "Delete this model? This cannot be undone.",
    ),
    "models.problems": (
        "번들 검증에 실패했습니다. 각 파일의 문제를 확인하세요",
        "The bundle failed validation; see each file's problems",
    ),
    "models.missing_file": ("(업로드되지 않음)", "(not uploaded)"),
    "models.empty": ("등록된 모델이 없습니다", "No models yet"),
    "models.uploading": ("검증 중…", "Validating…"),
    "models.remove_file": ("제거", "Remove"),
    # the pretrained-model store, on the models page
    "pretrained.title": ("사전학습 모델 저장소", "Pretrained-model store"),
    "pretrained.intro": (
        "사용자 코드에서 model_manager.download_model(이름)으로 불러오는 사전학습 모델입니다. 모든 사용자가 함께 "
        "사용하며, 각 기관은 작업이 처음 요청할 때 NVFlare를 통해 받습니다. Hugging Face 모델 폴더 또는 파일 하나를 올리세요.",
        "Pretrained models user code loads with model_manager.download_model(name), shared by every user; each site "
        "receives one through NVFlare the first time a job asks. Upload a Hugging Face model folder or one file.",
    ),
    "pretrained.name": ("이름", "Name"),
    "pretrained.name_help": (
        "영문, 숫자, '.', '_', '-' (예: chemberta-77M). 전체 사용자에서 유일해야 합니다",
        "Letters, digits, '.', '_', '-' (e.g. chemberta-77M); new across all users",
    ),
    "pretrained.kind": ("형태", "Kind"),
    "pretrained.kind_folder": ("폴더", "folder"),
    "pretrained.kind_file": ("파일", "file"),
    "pretrained.size": ("크기", "Size"),
    "pretrained.add": ("사전학습 모델 올리기", "Upload a pretrained model"),
    "pretrained.upload": ("올리기", "Upload"),
    "pretrained.choose_folder": ("폴더 선택", "Choose a folder"),
    "pretrained.choose_file": ("파일 선택", "Choose a file"),
    "pretrained.files_chosen": ("개 파일", "file(s)"),
    "pretrained.empty": ("저장소에 사전학습 모델이 없습니다", "The store has no pretrained models yet"),
    "pretrained.nothing": ("올릴 폴더나 파일을 선택하세요", "Choose a folder or a file to upload"),
    "pretrained.uploading": ("올리는 중…", "Uploading…"),
    "pretrained.storing": ("저장 중… (큰 모델은 몇 분 걸립니다)", "Storing… (a large model takes minutes)"),
    "pretrained.remove_confirm": (
        "저장소에서 이 모델을 삭제하시겠습니까? 이후 이 모델을 요청하는 작업은 실패합니다.",
        "Remove this model from the store? Jobs that ask for it afterwards will fail.",
    ),
    # jobs
    "jobs.title": ("연합학습 작업 관리", "Federated jobs"),
    "jobs.intro": (
        "사전에 등록한 모델을 사용하여 연합학습 작업을 생성하고 관리하는 페이지입니다",
        "Create and manage federated jobs with registered models",
    ),
    "jobs.name": ("연합학습 작업명", "Job name"),
    "jobs.name_rule": (
        "영문, 숫자, 언더바(_)만 사용 가능 (한글, 특수문자, 공백 제한)",
        "English letters, digits and _ only (no Korean, symbols or spaces)",
    ),
    "jobs.name_ok": ("사용 가능한 이름입니다", "This name is available"),
    "jobs.name_bad": ("영문, 숫자, 언더바(_) 외의 문자가 있습니다", "Use only English letters, digits and _"),
    "jobs.name_taken": ("이미 존재하는 작업명입니다", "A job with this name exists"),
    "jobs.model": ("AI 모델명", "AI model"),
    "jobs.choose_model": ("모델 선택", "Choose a model"),
    "jobs.sites_count": ("기관수", "Sites"),
    "jobs.state": ("진행상태", "State"),
    "jobs.rounds": ("Round 횟수", "Rounds"),
    "jobs.sites": ("기관 목록", "Sites"),
    "jobs.group": ("선택그룹", "Site groups"),
    "jobs.group_choose": ("북마크 선택", "Choose a saved group"),
    "jobs.group_name": ("북마크 제목", "Group name"),
    "jobs.group_save": ("선택그룹 저장", "Save group"),
    "jobs.group_delete": ("그룹 삭제", "Delete group"),
    "jobs.create": ("작업 생성", "Create job"),
    "jobs.new_title": ("신규 연합학습 작업", "New federated job"),
    "jobs.start_confirm": ("이 연합학습 작업을 시작하시겠습니까?", "Start this federated job?"),
    "jobs.empty": ("연합학습 작업이 없습니다", "No jobs yet"),
    "jobs.no_models": ("먼저 AI 모델을 등록하세요", "Register a model first"),
    # states (the guide's labels)
    "state.ready": ("학습시작", "Start"),
    "state.queued": ("학습대기", "Queued"),
    "state.running": ("학습진행", "Running"),
    "state.cancelled": ("작업취소", "Cancelled"),
    "state.failed": ("작업실패", "Failed"),
    "state.completed": ("결과보기", "Results"),
    "state.ready_label": ("시작 대기", "Ready"),
    # job information
    "job.tab_info": ("기본정보", "Basic information"),
    "job.tab_progress": ("진행현황", "Progress"),
    "job.tab_results": ("성능 및 결과", "Performance and results"),
    "job.stop": ("학습 중지", "Stop"),
    "job.stop_confirm": ("이 작업의 학습을 중지하시겠습니까?", "Stop this job?"),
    "job.resume": ("이어서 학습", "Resume"),
    "job.resume_confirm": (
        "마지막으로 완료된 Round 이후부터 이 작업을 다시 대기열에 넣으시겠습니까?",
        "Queue this job again, to go on after its last finished round?",
    ),
    "job.overview": ("연합학습 개요", "Overview"),
    "job.queued_at": ("대기 시작", "Queued"),
    "job.started_at": ("학습 시작", "Started"),
    "job.finished_at": ("종료", "Finished"),
    "job.failure": ("실패 정보", "Failure"),
    "job.phase": ("단계", "Phase"),
    "job.site": ("기관", "Site"),
    "job.round": ("Round", "Round"),
    "job.history": ("상태 이력", "State history"),
    "job.step_start": ("시작", "Start"),
    "job.step_environment": ("연합학습 환경 생성", "Environment creation"),
    "job.step_rounds": ("Round별 학습", "Training rounds"),
    "job.step_results": ("결과 생성", "Result generation"),
    "job.elapsed": ("소요시간", "Elapsed"),
    "job.status_done": ("완료", "done"),
    "job.status_active": ("진행중", "in progress"),
    "job.status_pending": ("대기", "pending"),
    "job.status_failed": ("실패", "failed"),
    "job.status_cancelled": ("취소", "cancelled"),
    "job.samples": ("학습 샘플", "training samples"),
    "job.results_disabled": (
        "1 Round 이상 진행되어 성능지표를 받으면 활성화됩니다",
        "Available once the first round has reported metrics",
    ),
    "job.download_csv": ("성능지표 CSV", "Metrics CSV"),
    "job.download_pt": ("글로벌 모델 (.pt)", "Global model (.pt)"),
    "job.download_safetensors": ("글로벌 모델 (.safetensors)", "Global model (.safetensors)"),
    "job.downloads_after": ("모든 학습이 종료된 후 받을 수 있습니다", "Available when the job has completed"),
    "job.site_toggle": ("기관 선택", "Sites"),
    "job.global": ("Global", "Global"),
    "job.local": ("Local", "Local"),
    "job.global_help": (
        "Global: 동일한 글로벌 모델을 기관의 데이터로 평가",
        "Global: the global model evaluated on the site's data",
    ),
    "job.local_help": (
        "Local: 기관의 데이터로 학습한 모델을 기관의 데이터로 평가",
        "Local: the site's trained model evaluated on its data",
    ),
    # errors
    "error.csrf": (
        "요청이 만료되었습니다. 페이지를 새로고침한 뒤 다시 시도하세요",
        "The form expired; reload the page and try again",
    ),
    "error.not_found": ("찾을 수 없습니다", "Not found"),
    "error.forbidden": (
        "권한이 없습니다: 소유자 또는 관리자만 변경할 수 있습니다",
        "Not allowed: only the owner or an admin can change this",
    ),
    "error.too_large": ("업로드가 너무 큽니다", "The upload is too large"),
}


def translate(key: str, language: str) -> str:
    """The label ``key`` in ``language`` (``ko`` or ``en``); an unknown key is shown as itself."""
    pair = LABELS.get(key)
    if pair is None:
        return key
    return pair[0] if language == "ko" else pair[1]


def labels_for(prefixes: tuple[str, ...], language: str) -> dict[str, str]:
    """Labels whose keys start with one of ``prefixes``, for the page's scripts."""
    return {key: translate(key, language) for key in LABELS if key.startswith(prefixes)}
