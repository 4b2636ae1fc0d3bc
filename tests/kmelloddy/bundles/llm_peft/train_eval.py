from transformers import AutoTokenizer, Trainer, TrainingArguments

from model_manager import download_model


def trainer_build(model, data, configs):
	path = download_model(configs.model_configs.pretrained_model_name_or_path)
	return Trainer(
		model=model,
		args=TrainingArguments(**configs.trainer_configs),
		tokenizer=AutoTokenizer.from_pretrained(path),
		train_dataset=data["train"],
		eval_dataset=data["test"],
	)


def train(model, data, configs):
	trainer_build(model, data, configs).train()


def evaluate(model, data, configs):
	metrics: dict = trainer_build(model, data, configs).evaluate()
	return metrics
